/**
 * Per-phase timeouts. The defaults for the reply phases are RFC 5321 §4.5.3.2's minimums, which
 * exist because slow peers are normal (content filters run before the final reply); the phases
 * RFC 5321 does not cover follow Postfix's defaults.
 *
 * @module
 */

/** Milliseconds allowed for each phase of a session. */
export interface SmtpTimeouts {
  /** TCP connect (Postfix `smtp_connect_timeout`: 30 s). */
  readonly connect: number;
  /** The 220 greeting: RFC 5321 §4.5.3.2.1 "Initial 220 Message: 5 Minutes". */
  readonly greeting: number;
  /** EHLO/HELO reply (Postfix `smtp_helo_timeout`: 300 s). */
  readonly ehlo: number;
  /** STARTTLS reply and the handshake (Postfix `smtp_starttls_timeout`: 300 s). */
  readonly starttls: number;
  /** Each AUTH exchange step. */
  readonly auth: number;
  /** RFC 5321 §4.5.3.2.2 "MAIL Command: 5 Minutes". */
  readonly mail: number;
  /** RFC 5321 §4.5.3.2.3 "RCPT Command: 5 Minutes". */
  readonly rcpt: number;
  /** RFC 5321 §4.5.3.2.4 "DATA Initiation: 2 Minutes". */
  readonly dataInit: number;
  /** RFC 5321 §4.5.3.2.5 "Data Block: 3 Minutes", for each write of message data. */
  readonly dataBlock: number;
  /** RFC 5321 §4.5.3.2.6 "DATA Termination: 10 Minutes". */
  readonly dataEnd: number;
  /** RSET reply (Postfix `smtp_rset_timeout`: 20 s). */
  readonly rset: number;
  /** QUIT reply (Postfix `smtp_quit_timeout`: 300 s; waiting is pointless, so shorter). */
  readonly quit: number;
}

/** A phase of the session, named after its timeout. */
export type Phase = keyof SmtpTimeouts;

const MINUTE = 60_000;

/** RFC 5321 §4.5.3.2 defaults, and Postfix's for the other phases. */
export const DEFAULT_TIMEOUTS: SmtpTimeouts = Object.freeze({
  connect: 30_000,
  greeting: 5 * MINUTE,
  ehlo: 5 * MINUTE,
  starttls: 5 * MINUTE,
  auth: 5 * MINUTE,
  mail: 5 * MINUTE,
  rcpt: 5 * MINUTE,
  dataInit: 2 * MINUTE,
  dataBlock: 3 * MINUTE,
  dataEnd: 10 * MINUTE,
  rset: 20_000,
  quit: 30_000,
});

/** The defaults overridden by `overrides`; every value must be a positive number. */
export function resolveTimeouts(overrides: Partial<SmtpTimeouts> = {}): SmtpTimeouts {
  const merged = { ...DEFAULT_TIMEOUTS, ...overrides };
  for (const [phase, ms] of Object.entries(merged)) {
    if (!(typeof ms === "number" && ms > 0 && Number.isFinite(ms))) {
      throw new RangeError(
        `Cannot use SMTP timeouts as '${phase}' must be > 0: current value is ${ms}`,
      );
    }
  }
  return Object.freeze(merged);
}
