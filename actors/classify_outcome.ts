/**
 * From an SMTP result to what the queue records: delivered, bounced (5xx), deferred with its next
 * attempt, or expired when no attempt fits before `expires_at`. A permanent failure that says the
 * address does not exist also suppresses the address.
 *
 * @module
 */
import type { Delivery, OutcomeRecord, RecipientResult, TlsDetail } from "./ports.ts";

/** Retry planning (actors/backoff.ts): when the next attempt is, or that there is none. */
export type PlanRetry = (
  o: { attempts: number; now: number; expiresAt: number; hintMs?: number },
) => { kind: "retry"; at: number } | { kind: "expire" };

export interface ClassifyContext {
  readonly now: number;
  readonly mxHost?: string;
  readonly tls?: boolean;
  readonly tlsDetail?: TlsDetail | undefined;
  readonly durationMs?: number;
  readonly planRetry: PlanRetry;
}

// RFC 3463: X.1.1 bad destination mailbox address, X.1.6 mailbox has moved, X.1.10 recipient
// address has null MX (RFC 7505).
const NO_SUCH_ADDRESS_CODES = /^5\.1\.(1|6|10)$/;
const NO_SUCH_ADDRESS_TEXT =
  /user unknown|unknown user|no such (user|mailbox|recipient|address)|does not exist|unknown recipient|invalid (mailbox|recipient)|recipient (address )?rejected: (user|mailbox)/i;

/** True when a permanent reply means the address itself is bad (worth suppressing). */
export function isNoSuchAddress(r: RecipientResult): boolean {
  if (r.kind !== "permanent" || r.scope !== "recipient") return false;
  if (r.enhanced !== undefined) return NO_SUCH_ADDRESS_CODES.test(r.enhanced);
  return NO_SUCH_ADDRESS_TEXT.test(r.reply);
}

export function classifyOutcome(
  d: Delivery,
  r: RecipientResult,
  c: ClassifyContext,
): OutcomeRecord {
  const mxHost = r.mxHost ?? c.mxHost;
  const base = {
    delivery: d,
    attempted: true,
    code: r.code,
    reply: r.reply,
    ...(r.kind !== "delivered" && r.enhanced !== undefined ? { enhanced: r.enhanced } : {}),
    // Ferry's own refusal names no receiving host: none said it. A result that names its host
    // (the session moved on to the next MX) wins over the session's first.
    ...(mxHost !== undefined && !(r.kind !== "delivered" && r.local) ? { mxHost } : {}),
    ...(c.tls !== undefined ? { tls: c.tls } : {}),
    ...(c.tlsDetail !== undefined ? { tlsDetail: c.tlsDetail } : {}),
    ...(c.durationMs !== undefined ? { durationMs: c.durationMs } : {}),
  };
  switch (r.kind) {
    case "delivered":
      return { ...base, status: "delivered" };
    case "permanent":
      return { ...base, status: "bounced", suppress: isNoSuchAddress(r) };
    case "transient": {
      const plan = c.planRetry({
        attempts: d.attempts + 1,
        now: c.now,
        expiresAt: d.expiresAt,
        ...(r.retryAfterMs !== undefined ? { hintMs: r.retryAfterMs } : {}),
      });
      return plan.kind === "retry"
        ? { ...base, status: "deferred", nextAttemptAt: plan.at }
        : { ...base, status: "expired" };
    }
  }
}
