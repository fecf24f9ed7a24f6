/**
 * Outcomes as values. Every attempt to deliver to a recipient ends in exactly one
 * {@link Outcome}: delivered, transient (retry later) or permanent (bounce), with the scope the
 * failure applies to, so the caller knows whether to retry one recipient, the whole message, or
 * to slow down on the whole host.
 *
 * Scope rules (RFC 5321 §4.2.1, §3.8):
 * - a reply to RCPT concerns that recipient;
 * - a reply to MAIL, DATA or the end of data concerns the message (every recipient of it);
 * - 421, timeouts, resets, TLS failures and garbage concern the connection: the session is
 *   unusable afterwards and the caller should back off from the host.
 *
 * Failures that Ferry decides itself (message over the peer's SIZE, SMTPUTF8 missing, a
 * timeout...) carry `source: "local"` with a synthesised code in the same style as a peer's,
 * so `last_code`/`last_reply` stay uniform.
 *
 * @module
 */
import { type Reply, replyText } from "./reply.ts";
import { retryAfterFromText } from "./retry_hint.ts";
import { type ThrottleScope, throttleSignature } from "./throttle.ts";

/** Whom a failure applies to. */
export type Scope = "recipient" | "message" | "connection";

interface OutcomeBase {
  /** The SMTP reply code, or the synthesised one for a local decision. */
  readonly code: number;
  /** The enhanced status code (RFC 3463), when known. */
  readonly enhanced?: string;
  /** The reply text without codes, lines joined by `\n`; or Ferry's own explanation. */
  readonly text: string;
  /** Whether the peer said it, or Ferry decided it. */
  readonly source: "peer" | "local";
}

/** The peer accepted the message for this recipient (2xx at the end of data). */
export interface Delivered extends OutcomeBase {
  readonly kind: "delivered";
}

/** Retry later: 4xx, or a connection-level problem. */
export interface Transient extends OutcomeBase {
  readonly kind: "transient";
  readonly scope: Scope;
  /** The peer's "retry in N minutes" hint, in milliseconds. */
  readonly retryAfterMs?: number;
  /** A throttling reply (throttle.ts): whom the receiver limits, our traffic or one mailbox. */
  readonly throttle?: ThrottleScope;
}

/** Do not retry: 5xx, or a local decision that no retry can change. */
export interface Permanent extends OutcomeBase {
  readonly kind: "permanent";
  readonly scope: Scope;
}

export type Failure = Transient | Permanent;
export type Outcome = Delivered | Failure;

/** The outcome for one envelope recipient. */
export interface RecipientOutcome {
  readonly recipient: string;
  readonly outcome: Outcome;
}

/** A 2xx reply as a delivered outcome. */
export function deliveredFrom(reply: Reply): Delivered {
  return withEnhanced({
    kind: "delivered",
    code: reply.code,
    text: replyText(reply),
    source: "peer",
  }, reply.enhanced);
}

/**
 * A negative reply as a failure of `scope`. 421 always widens to the connection (RFC 5321 §3.8:
 * the server is closing the channel). A reply that is not negative where a negative or an
 * expected positive one belonged is a protocol error of the connection.
 */
export function failureFrom(reply: Reply, scope: Scope): Failure {
  const text = replyText(reply);
  if (reply.code >= 500) {
    return withEnhanced(
      { kind: "permanent", scope, code: reply.code, text, source: "peer" },
      reply.enhanced,
    );
  }
  if (reply.code >= 400) {
    const retryAfterMs = retryAfterFromText(text);
    const throttle = throttleSignature({ code: reply.code, enhanced: reply.enhanced, text })?.scope;
    const base: Transient = {
      kind: "transient",
      scope: reply.code === 421 ? "connection" : scope,
      code: reply.code,
      text,
      source: "peer",
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      ...(throttle === undefined ? {} : { throttle }),
    };
    return withEnhanced(base, reply.enhanced);
  }
  return localTransient(
    "connection",
    451,
    "4.5.0",
    `protocol error: unexpected reply ${reply.code} ${text}`.trim(),
  );
}

/** A failure Ferry decided itself, retried later. */
export function localTransient(
  scope: Scope,
  code: number,
  enhanced: string,
  text: string,
): Transient {
  return { kind: "transient", scope, code, enhanced, text, source: "local" };
}

/** A failure Ferry decided itself that no retry can change. */
export function localPermanent(
  scope: Scope,
  code: number,
  enhanced: string,
  text: string,
): Permanent {
  return { kind: "permanent", scope, code, enhanced, text, source: "local" };
}

/** `550 5.1.1 text` on one line per reply line: the form stored as `last_reply`. */
export function describeOutcome(outcome: Outcome): string {
  const prefix = outcome.enhanced ? `${outcome.code} ${outcome.enhanced} ` : `${outcome.code} `;
  return outcome.text.split("\n").map((line) => prefix + line).join("\n");
}

function withEnhanced<T extends Outcome>(outcome: T, enhanced: string | undefined): T {
  return enhanced === undefined ? outcome : { ...outcome, enhanced };
}
