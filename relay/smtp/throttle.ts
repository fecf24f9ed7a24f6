/**
 * Throttling replies: the 4xx answers with which receivers say "you are sending too fast", as
 * opposed to every other transient failure (greylisting, a full mailbox, a busy disk). RFC 5321
 * gives no code for it and RFC 3463 only the vague X.7.0 / X.4.5, so each large provider has its
 * own wording; this table recognises them by enhanced status code and text, in order, first
 * match wins.
 *
 * A signature limits either the sender or one recipient:
 *
 * - `sender`: the receiver limits our traffic as a whole (per sending IP, per connection count, per
 *   SPF/DKIM domain). Only sending less helps: the caller slows the whole destination down, and
 *   another MX host of the same receiver shares the same counters, so it is no place to go.
 * - `recipient`: one mailbox receives too much mail, from everyone. Slowing the destination
 *   down would punish the other recipients for nothing; that recipient alone waits.
 *
 * Only transient (4xx) replies are looked at: a 5xx is a refusal, whatever its text says.
 *
 * Sources, by provider (each entry cites its own):
 * - Google, "SMTP errors and codes" (Google Workspace Admin Help, support.google.com/a/answer/3726730).
 * - Microsoft, "Fix error code 451 4.7.500-699 (ASxxx) in Exchange Online" (Exchange Online
 *   documentation) and the Outlook.com postmaster pages (postmaster.live.com, aka.ms/postmaster).
 * - Yahoo, "SMTP error codes" (postmaster.yahooinc.com/error-codes).
 * - Apple, "Postmaster information for iCloud Mail" (support.apple.com/HT204137).
 * - Comcast, "SMTP error codes" (postmaster.comcast.net/smtp-error-codes.php).
 *
 * @module
 */

/** Whom a throttle limits: the sender's whole traffic, or one recipient's mailbox. */
export type ThrottleScope = "sender" | "recipient";

/** One recognised throttling reply. */
export interface ThrottleSignature {
  /** A stable name, for logs and tests. */
  readonly name: string;
  readonly scope: ThrottleScope;
  /** The basic code must be one of these (default: any 4xx). */
  readonly codes?: readonly number[];
  /** The enhanced status code (RFC 3463) must match. */
  readonly enhanced?: RegExp;
  /** The reply text (without codes) must match. */
  readonly text?: RegExp;
  /** Where the wording is documented, and an example of it. */
  readonly source: string;
}

/** A reply as the table reads it. */
export interface ThrottleReply {
  readonly code: number;
  readonly enhanced?: string | undefined;
  readonly text: string;
}

/**
 * The signatures, most specific first: the recipient-scoped ones come before the generic words
 * that would also match them ("rate", "volume").
 */
export const THROTTLE_SIGNATURES: readonly ThrottleSignature[] = [
  {
    name: "gmail-recipient-rate",
    scope: "recipient",
    enhanced: /^4\.2\.1$/,
    text: /receiving mail at a rate that prevents additional messages/i,
    source: "Google SMTP errors and codes: 450 4.2.1 The user you are trying to contact is " +
      "receiving mail at a rate that prevents additional messages from being delivered.",
  },
  {
    name: "icloud-recipient-volume",
    scope: "recipient",
    text: /messages to \S+ deferred due to excessive volume/i,
    source: "Apple iCloud Mail postmaster (HT204137): 421 4.7.1 Messages to <address> deferred " +
      "due to excessive volume. Try again later.",
  },
  {
    name: "gmail-unsolicited-rate",
    scope: "sender",
    enhanced: /^4\.7\.28$/,
    source: "Google SMTP errors and codes: 421 4.7.28 Our system has detected an unusual rate " +
      "of unsolicited mail originating from your IP address ... temporarily rate limited " +
      "(also for the SPF, DKIM and URL domains).",
  },
  {
    name: "gmail-relay-peak",
    scope: "sender",
    text: /peak smtp relay limit exceeded/i,
    source: "Google SMTP errors and codes: 450 4.2.1 Peak SMTP relay limit exceeded for " +
      "customer (smtp-relay.gmail.com as a smarthost).",
  },
  {
    name: "microsoft-access-denied-try-later",
    scope: "sender",
    // 4.7.500 to 4.7.699: Exchange Online holds back a sending IP it does not trust yet
    // ("Server busy. Please try again later"); Outlook.com's 4.7.650 and 4.7.651 say
    // "temporarily rate limited due to IP reputation".
    enhanced: /^4\.7\.[56]\d\d$/,
    source: "Exchange Online, Fix error code 451 4.7.500-699 (ASxxx): 451 4.7.500 Server busy. " +
      "Please try again later from [x.x.x.x]; Outlook.com postmaster: 451 4.7.650 The mail " +
      "server [x.x.x.x] has been temporarily rate limited due to IP reputation.",
  },
  {
    name: "outlook-rp-limits",
    scope: "sender",
    text: /\bRP-00[1-3]\b/,
    source: "Outlook.com postmaster: 421 RP-001 ... Unfortunately, some messages from " +
      "x.x.x.x weren't sent. Please try again. We have limits for how many messages can be " +
      "sent per hour and per day (RP-002, RP-003 alike).",
  },
  {
    name: "exchange-concurrent-connections",
    scope: "sender",
    text: /maximum number of concurrent (server )?connections/i,
    source: "Exchange Online: 421 4.3.2 The maximum number of concurrent server connections " +
      "has exceeded a limit, closing transmission channel.",
  },
  {
    name: "yahoo-deferred-volume",
    scope: "sender",
    // TS01, TS02, TSS04...: "temporarily deferred due to unexpected volume or user
    // complaints". TS03 ("permanently deferred") is a block, not a rate: not listed.
    text: /\[TSS?0[124]\]/,
    source: "Yahoo SMTP error codes: 421 4.7.0 [TSS04] Messages from x.x.x.x temporarily " +
      "deferred due to unexpected volume or user complaints - 4.16.55.1.",
  },
  {
    name: "comcast-rate-limit",
    scope: "sender",
    text: /\bRL0000\d\d\b/,
    source: "Comcast SMTP error codes: RL000001..RL000003, e.g. 421 4.1.0 x.x.x.x Throttled - " +
      "try again later.",
  },
  {
    name: "too-many-connections",
    scope: "sender",
    // Comcast ("421 Too many sessions opened": 25 per sending IP), Postfix's anvil ("421 4.7.0
    // Error: too many connections from x.x.x.x") and many others.
    text: /too many (concurrent )?(connections|sessions)/i,
    source: "Comcast SMTP error codes: 421 - [Too many sessions opened]; Postfix anvil: 421 " +
      "4.7.0 Error: too many connections from x.x.x.x.",
  },
  {
    name: "generic-rate-limit",
    scope: "sender",
    // The words receivers of every size use; "too many recipients" (RFC 5321 §4.5.3.1.10) is
    // a limit per transaction, not a rate, and is not among them.
    text:
      /\brate[- ]?limit(s|ed|ing)?\b|\bthrottl(e|ed|ing)\b|\btoo many (messages|mails)\b|\bslow down\b|\bsending (rate|too fast)\b|\bunexpected volume\b|\bunusual rate\b/i,
    source: "Common wording, e.g. 421 4.7.0 Try again later ... rate limited, 451 4.7.1 Rate " +
      "limit exceeded, 450 Too many messages, slow down.",
  },
];

/** The first signature `reply` matches, or undefined (not a 4xx, or not a throttle). */
export function throttleSignature(
  reply: ThrottleReply,
  signatures: readonly ThrottleSignature[] = THROTTLE_SIGNATURES,
): ThrottleSignature | undefined {
  if (reply.code < 400 || reply.code >= 500) return undefined;
  return signatures.find((s) =>
    (s.codes === undefined || s.codes.includes(reply.code)) &&
    (s.enhanced === undefined ||
      (reply.enhanced !== undefined && s.enhanced.test(reply.enhanced))) &&
    (s.text === undefined || s.text.test(reply.text))
  );
}
