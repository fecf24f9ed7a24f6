/**
 * Time as an injected port. Protocol code and actors never call `Date.now()` or `setTimeout`
 * directly: they take a {@link Clock}, so tests drive a FakeClock and never sleep for real.
 *
 * `actors/ports.ts` declares the same shape on its own (actors import nothing from relay/);
 * TypeScript's structural typing lets one implementation serve both.
 *
 * @module
 */

/** Wall-clock time and cancellable waiting. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds. Rejects with `signal.reason` when the signal aborts first;
   * the pending timer is cleared either way, so nothing leaks.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock, backed by `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, Math.max(0, ms));
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  },
};

/**
 * Runs `work` with a deadline measured on `clock`. Rejects with a {@link TimeoutError} when the
 * deadline passes first; the timer is always released.
 */
export async function withTimeout<T>(
  clock: Clock,
  ms: number,
  what: string,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const timer = new AbortController();
  const workAbort = new AbortController();
  const deadline = clock.sleep(ms, timer.signal).then(
    () => {
      const err = new TimeoutError(what, ms);
      workAbort.abort(err);
      throw err;
    },
    () => undefined as never,
  );
  try {
    return await Promise.race([work(workAbort.signal), deadline]);
  } finally {
    timer.abort(DEADLINE_RELEASED);
  }
}

/** Why a deadline's timer is released: preallocated, as `abort()` would allocate each time. */
const DEADLINE_RELEASED = new DOMException("The deadline was released", "AbortError");

/** A deadline passed before an operation finished. */
export class TimeoutError extends Error {
  override readonly name = "TimeoutError";
  constructor(readonly what: string, readonly ms: number) {
    super(`Timed out after ${ms} ms waiting for ${what}`);
  }
}

/**
 * A deadline that, unlike {@link withTimeout}, waits for the work to wind down before returning:
 * the work gets a signal that aborts at the deadline (or when the caller's signal aborts) and
 * must settle promptly, so its socket is closed by the time the caller sees the timeout. That
 * keeps Deno's resource sanitizer quiet and never leaves a socket behind (DNS over UDP/TCP, the
 * MTA-STS policy fetch).
 */
export async function runWithDeadline<T>(
  clock: Clock,
  ms: number,
  what: string,
  signal: AbortSignal | undefined,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  signal?.throwIfAborted();
  const deadline = new AbortController();
  const timer = new AbortController();
  clock.sleep(ms, timer.signal).then(
    () => deadline.abort(new TimeoutError(what, ms)),
    () => undefined,
  );
  const combined = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
  try {
    return await work(combined);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (deadline.signal.aborted) throw deadline.signal.reason;
    throw err;
  } finally {
    timer.abort();
  }
}
