/**
 * What a message in the bounce mailbox turns out to be. Values, not exceptions: a message that
 * cannot be understood is an {@link Unrecognised} outcome, kept and counted by the caller.
 *
 * @module
 */

/** Why a delivery failed, coarse enough to drive policy (suppress, retry later, alert). */
export type BounceClass =
  | "invalid_recipient"
  | "mailbox_full"
  | "message_too_large"
  | "spam_or_policy"
  | "dns"
  | "other";

/** How a bounce can be tied back to the delivery that caused it. */
export interface MatchKeys {
  /** The delivery id from a VERP address that verified (see verp.ts). */
  readonly verpId?: string;
  /** The Message-ID of the original message, with its angle brackets (`<id@host>`). */
  readonly originalMessageId?: string;
}

/** One recipient's failure (or delay) reported by a DSN or a non-standard bounce. */
export interface Bounce extends MatchKeys {
  readonly kind: "bounce";
  /** The failed address (RFC 3464 Final-Recipient, or what a non-standard bounce names). */
  readonly recipient?: string;
  /** Enhanced status code (RFC 3463), e.g. `5.1.1`; synthesised as x.0.0 when none was given. */
  readonly status: string;
  /** The remote server's words (Diagnostic-Code, or the reason text), whitespace collapsed. */
  readonly diagnostic: string;
  /** `failed`, or `delayed` for a warning that delivery is still being retried. */
  readonly action: "failed" | "delayed";
  readonly class: BounceClass;
  /** Permanent: 5.x.x, except a full mailbox (which empties). Never for `delayed`. */
  readonly hard: boolean;
  /** The envelope recipient as the sender gave it (RFC 3464 Original-Recipient). */
  readonly originalEnvelopeTo?: string;
  /** The MTA that reported it (Reporting-MTA), when known. */
  readonly reportingMta?: string;
}

/** A spam complaint or other feedback report (ARF, RFC 5965). */
export interface Complaint extends MatchKeys {
  readonly kind: "complaint";
  /** RFC 5965 §3.1 Feedback-Type: `abuse`, `fraud`, `virus`, `not-spam`, `auth-failure`... */
  readonly feedbackType: string;
  /** The complaining recipient (Original-Rcpt-To), when the reporter did not redact it. */
  readonly recipient?: string;
  readonly originalEnvelopeTo?: string;
  /** Who generated the report (User-Agent), e.g. `SomeISP-FBL/1.0`. */
  readonly userAgent?: string;
  readonly arrivalDate?: string;
  readonly sourceIp?: string;
}

/** Not a bounce or complaint we understand (an auto-reply, a human reply, spam...). */
export interface Unrecognised extends MatchKeys {
  readonly kind: "unrecognised";
  readonly reason: string;
}

export type BounceOutcome = Bounce | Complaint | Unrecognised;

/** Everything learnt from one mailbox message. */
export interface BounceReport {
  /**
   * At least one outcome: one per failed recipient for a DSN listing several, otherwise one.
   * An unrecognised message yields exactly one {@link Unrecognised}.
   */
  readonly outcomes: readonly [BounceOutcome, ...BounceOutcome[]];
  /** The report's own Subject, From and Message-ID: for people looking at unmatched ones. */
  readonly subject: string;
  readonly from: string;
  readonly messageId?: string;
}
