/**
 * The retry schedule of a deferred delivery, as pure functions (KumoMTA's habit: the whole
 * schedule is a value a test can assert). Exponential: `first`, then multiplied by `factor`
 * after every failed attempt, capped at `max`.
 *
 * Jitter is *downward*: a delay is drawn from `[base * (1 - jitter), base]`. Spreading retries
 * keeps a queue that failed together (one outage, one greylisting burst) from coming back
 * together, and drawing only below the nominal delay keeps `max` a true maximum and the
 * nominal schedule a true upper bound, so "would the next attempt land past `expires_at`?" has
 * a predictable answer. Symmetric jitter around the cap would either exceed it or pile half the
 * retries exactly onto it.
 *
 * A server's "try again in N minutes" (RFC 5321 does not define it; relay/smtp extracts it as
 * `retryAfterMs`) is a lower bound: retrying sooner is known to fail.
 *
 * @module
 */
import type { Random } from "./ports.ts";

/** Durations in milliseconds. */
export interface RetryPolicy {
  /** Delay after the first failed attempt. */
  readonly first: number;
  /** Growth per further failed attempt (>= 1; 1 is a constant delay). */
  readonly factor: number;
  /** Cap on the delay, before jitter. */
  readonly max: number;
  /** Fraction in [0, 1): how far below the nominal delay a retry may be drawn. */
  readonly jitter: number;
}

/** First retry after 5 minutes, doubling, capped at 1 hour, up to 10 % earlier. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  first: 5 * 60_000,
  factor: 2,
  max: 60 * 60_000,
  jitter: 0.1,
};

/** The nominal delay after `attempt` failed attempts (no jitter, no hint). */
export function baseRetryDelay(attempt: number, policy: RetryPolicy): number {
  checkPolicy(policy);
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(
      `Cannot compute a retry delay as 'attempt' must be an integer >= 1: current value is ${attempt}`,
    );
  }
  // The exponent is bounded so a huge attempt count cannot turn into Infinity * 0 or NaN.
  return Math.min(policy.max, policy.first * policy.factor ** Math.min(attempt - 1, 1000));
}

/**
 * The delay in whole ms before the next attempt, after `attempt` failed attempts (1 after the
 * first failure), jittered with `random` (see the module notes).
 */
export function nextRetryDelay(attempt: number, policy: RetryPolicy, random: Random): number {
  const base = baseRetryDelay(attempt, policy);
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(base * (1 - policy.jitter * r));
}

export interface PlanRetryInput {
  /** Attempts made so far, the one that just failed included (>= 1). */
  readonly attempts: number;
  readonly now: number;
  /** The delivery's `expires_at`, in ms. */
  readonly expiresAt: number;
  /** The server's "retry in N" hint (`retryAfterMs`), a lower bound on the delay. */
  readonly hintMs?: number;
  readonly policy?: RetryPolicy;
  readonly random: Random;
}

export type RetryPlan =
  | { readonly kind: "retry"; readonly at: number; readonly delayMs: number }
  /** Giving up now: the next attempt would be at or past `expiresAt` (`wouldRetryAt`). */
  | { readonly kind: "expire"; readonly wouldRetryAt: number };

/**
 * What to do after a transient failure: retry at a time, or expire at once when that time would
 * not come before `expiresAt` (waiting only to expire later helps nobody and hides the reason).
 */
export function planRetry(input: PlanRetryInput): RetryPlan {
  const policy = input.policy ?? DEFAULT_RETRY_POLICY;
  const jittered = nextRetryDelay(input.attempts, policy, input.random);
  const hint = input.hintMs !== undefined && input.hintMs > 0 ? Math.ceil(input.hintMs) : 0;
  const delayMs = Math.max(jittered, hint);
  const at = input.now + delayMs;
  if (at >= input.expiresAt) return { kind: "expire", wouldRetryAt: at };
  return { kind: "retry", at, delayMs };
}

/**
 * The pause before a destination's next connection after failures in a row (connections that
 * failed, or messages its own store could not read): the retry schedule's exponential shape, in
 * seconds rather than minutes, since one failure says little and the pause holds back the whole
 * destination. Not jittered: one actor per destination and instance waits it out, so there is
 * no crowd to spread.
 */
export type ReconnectPolicy = Omit<RetryPolicy, "jitter">;

/** 0.5 s, doubling, capped at 30 s. */
export const DEFAULT_RECONNECT_POLICY: ReconnectPolicy = { first: 500, factor: 2, max: 30_000 };

/** The pause after `failures` failures in a row (0 counts as 1: a pause is never none). */
export function reconnectBackoff(
  failures: number,
  policy: ReconnectPolicy = DEFAULT_RECONNECT_POLICY,
): number {
  return baseRetryDelay(Math.max(1, failures), { ...policy, jitter: 0 });
}

function checkPolicy(policy: RetryPolicy): void {
  const problem = !(policy.first > 0)
    ? `'first' must be > 0: current value is ${policy.first}`
    : !(policy.factor >= 1) || !Number.isFinite(policy.factor)
    ? `'factor' must be >= 1: current value is ${policy.factor}`
    : !(policy.max >= policy.first) || !Number.isFinite(policy.max)
    ? `'max' must be >= 'first': current values are ${policy.max} and ${policy.first}`
    : !(policy.jitter >= 0 && policy.jitter < 1)
    ? `'jitter' must be in [0, 1): current value is ${policy.jitter}`
    : undefined;
  if (problem) throw new RangeError(`Cannot use retry policy as ${problem}`);
}
