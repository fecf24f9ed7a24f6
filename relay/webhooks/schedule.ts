/**
 * When a failed notification is tried again: a pure function of the attempt number, so the
 * test can assert the whole schedule. Exponential (base, 2×base, 4×base, ...) and capped; no
 * jitter, because the claim already spreads rows by their own due times.
 *
 * @module
 */

/** The wait after failed attempt number `attempt` (1-based). */
export function webhookRetryDelay(
  attempt: number,
  o: { readonly baseMs: number; readonly maxMs: number },
): number {
  if (!(attempt >= 1)) {
    throw new RangeError(`Cannot compute a retry delay as 'attempt' must be >= 1: got ${attempt}`);
  }
  // 2^40 × base is far past any cap; stopping the exponent there keeps the number finite.
  return Math.min(o.maxMs, o.baseMs * 2 ** Math.min(attempt - 1, 40));
}
