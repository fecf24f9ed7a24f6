/**
 * Bounces that are not RFC 3464 DSNs but plain text for people: qmail's "Hi. This is the
 * qmail-send program", Exim's "This message was created automatically by mail delivery
 * software", Exchange's "Delivery has failed to these recipients or groups", and Postfix without
 * DSN. They share a shape this parser relies on:
 *
 * - a human-readable part naming each failed address on a line of its own (`  user@x`,
 *   `<user@x>:`, `user@x (user@x)`), its reason on the lines right after it, or on the same line
 *   after a colon (`<user@x>: host mx said: 550 ...`);
 * - then a separator line and a copy of the original message (headers first).
 *
 * Only messages that look like bounces (sender, subject, X-Failed-Recipients, signature lines)
 * are parsed, so a person's reply that quotes an address is not mistaken for one.
 *
 * @module
 */
import { basicClass, enhancedCodes } from "./status_code.ts";

export interface TextFailure {
  readonly recipient?: string;
  readonly diagnostic: string;
}

export type TextBounce =
  | {
    readonly kind: "parsed";
    readonly action: "failed" | "delayed";
    readonly failures: readonly [TextFailure, ...TextFailure[]];
    /** The copy of the original message after the separator, when there is one. */
    readonly original?: string;
  }
  | { readonly kind: "none"; readonly reason: string };

export interface TextBounceInput {
  readonly text: string;
  readonly subject: string;
  readonly from: string;
  readonly returnPath?: string;
  /** Exim's X-Failed-Recipients header values. */
  readonly failedRecipients: readonly string[];
}

const ADDRESS = /[^\s<>()@,;:"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?/g;

const SEPARATORS: readonly RegExp[] = [
  /^--- Below this line is a copy of the message\.?[ \t]*$/m, // qmail
  /^-+ ?This is a copy of the (?:message|body of the message)\b.*$/m, // Exim
  /^-+ ?This is a copy of the message's headers\b.*$/m, // Exim, headers only
  /^Original message headers:[ \t]*$/m, // Exchange
  /^-+ ?(?:Original message|Original Message follows|Undelivered message)\b.*$/im,
];

const SIGNATURES =
  /qmail-send program|created automatically by mail delivery software|Delivery has failed to these recipients|This is the mail system at host|could not be delivered to (?:one or more|the following)|I'm afraid I wasn't able to deliver/i;

const BOUNCE_SUBJECT =
  /undeliver|delivery (?:status notification|failure|failed|has failed|delayed|incomplete)|returned mail|failure notice|mail delivery failed|non.?delivery|could not be delivered|warning: message .* delayed|not delivered/i;

const BOUNCE_SENDER = /mailer-daemon|postmaster|mail delivery (?:system|subsystem)/i;

const DELAYED =
  /has not yet been delivered|delivery (?:has been |is )?delayed|still being retried|will (?:continue to )?(?:be )?retr(?:y|ied)|delay(?:ed)? (?:warning|notification)|warning: message .* delayed/i;

/** Recognises and parses a plain-text bounce. */
export function parseTextBounce(input: TextBounceInput): TextBounce {
  const text = input.text.replace(/\r\n?/g, "\n");
  if (!looksLikeBounce(input, text)) {
    return { kind: "none", reason: "not a bounce: no DSN, signature or bounce sender" };
  }
  const { human, original } = splitOriginal(text);
  let failures = fromParagraphs(human);
  if (failures.length === 0 && input.failedRecipients.length > 0) {
    const reason = reasonLine(human);
    failures = input.failedRecipients.flatMap((v) => v.match(ADDRESS) ?? [])
      .map((recipient) => ({ recipient, diagnostic: reason }));
  }
  if (failures.length === 0) {
    const reason = reasonLine(human);
    if (!reason) {
      return { kind: "none", reason: "looks like a bounce but names no recipient or reason" };
    }
    failures = [{ diagnostic: reason }];
  }
  const permanent = failures.some((f) =>
    enhancedCodes(f.diagnostic).some((c) => c.startsWith("5")) || basicClass(f.diagnostic) === "5"
  );
  const delayed = !permanent && (DELAYED.test(input.subject) || DELAYED.test(human));
  return {
    kind: "parsed",
    action: delayed ? "delayed" : "failed",
    failures: failures as [TextFailure, ...TextFailure[]],
    original,
  };
}

function looksLikeBounce(input: TextBounceInput, text: string): boolean {
  return input.failedRecipients.length > 0 ||
    input.returnPath?.trim() === "<>" ||
    BOUNCE_SENDER.test(input.from) ||
    BOUNCE_SUBJECT.test(input.subject) ||
    SIGNATURES.test(text.slice(0, 4000));
}

/** Cuts the text at the first separator line: what is above is for people, below is the copy. */
export function splitOriginal(text: string): { human: string; original?: string } {
  let best: { at: number; end: number } | undefined;
  for (const re of SEPARATORS) {
    const m = re.exec(text);
    if (m && (!best || m.index < best.at)) best = { at: m.index, end: m.index + m[0].length };
  }
  if (!best) return { human: text };
  return { human: text.slice(0, best.at), original: text.slice(best.end).replace(/^\s*\n/, "") };
}

/** Address paragraphs: an address alone on a line (or `<addr>: reason`), then its reason. */
function fromParagraphs(human: string): TextFailure[] {
  const paragraphs = human.split(/\n[ \t]*\n/).map((p) => p.split("\n").filter((l) => l.trim()));
  const found = new Map<string, string>();
  for (let i = 0; i < paragraphs.length; i++) {
    const [first, ...rest] = paragraphs[i]!;
    if (first === undefined) continue;
    const inline = /^\s*<([^<>\s]+@[^<>\s]+)>:\s+(\S.*)$/.exec(first);
    const alone = inline ? undefined : addressAlone(first);
    const recipient = inline?.[1] ?? alone;
    if (!recipient) continue;
    let reason = [inline?.[2] ?? "", ...rest].join(" ").replace(/\s+/g, " ").trim();
    const next = paragraphs[i + 1];
    if (!reason && next?.[0] !== undefined && !addressAlone(next[0])) {
      reason = next.join(" ").replace(/\s+/g, " ").trim();
    }
    // Exchange names each address twice (for users, then for administrators): keep the one
    // with a status code, which is the administrators' line.
    const prior = found.get(recipient.toLowerCase());
    if (prior === undefined || (!hasCode(prior) && hasCode(reason))) {
      found.set(recipient.toLowerCase(), reason);
    }
  }
  return [...found].map(([recipient, diagnostic]) => ({ recipient, diagnostic }));
}

/** The address if the line holds nothing else but brackets, a colon or a parenthetical. */
function addressAlone(line: string): string | undefined {
  const addresses = line.match(ADDRESS);
  if (!addresses) return undefined;
  const rest = line.replace(/<mailto:[^>]*>/g, "").replace(/\([^)]*\)/g, "").replace(ADDRESS, "")
    .replace(/[<>:\s"']/g, "");
  return rest === "" ? addresses[0]!.replace(/^<|>$/g, "") : undefined;
}

function hasCode(text: string): boolean {
  return enhancedCodes(text).length > 0 || basicClass(text) !== undefined;
}

/** The first line of the human part that carries a status code or a failure keyword. */
function reasonLine(human: string): string {
  const lines = human.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.find(hasCode) ??
    lines.find((l) => /unknown|not found|rejected|full|quota|refused|denied|unrout/i.test(l)) ??
    "";
}
