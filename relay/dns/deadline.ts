/**
 * A deadline that, unlike `withTimeout`, waits for the work to wind down before returning:
 * the work gets a signal that aborts at the deadline (or when the caller's signal aborts) and
 * must settle promptly, so its socket is closed by the time the caller sees the timeout.
 * That keeps Deno's resource sanitizer quiet and never leaves a socket behind.
 *
 * @module
 */
import { type Clock, TimeoutError } from "../../lib/clock.ts";

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
