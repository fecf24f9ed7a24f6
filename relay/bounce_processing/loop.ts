/**
 * The bounce poller's life: poll, sleep the interval on the injected clock, repeat, until the
 * signal aborts. A failed poll is reported (through the log hook) and the next one goes ahead as
 * scheduled: the mailbox keeps what was not processed, so waiting loses nothing.
 *
 * @module
 */
import { pollMailbox, type PollOptions } from "./processor.ts";

export interface BounceLoopOptions extends PollOptions {
  /** Stops the loop; an in-flight poll is cut short without QUIT (nothing is deleted). */
  readonly signal: AbortSignal;
  /** Time between the end of one poll and the start of the next, in ms. */
  readonly pollIntervalMs: number;
}

/** Polls until `signal` aborts; resolves then. The first poll starts at once. */
export async function runBounceLoop(options: BounceLoopOptions): Promise<void> {
  const { signal, pollIntervalMs, clock } = options;
  if (!(pollIntervalMs > 0)) {
    throw new RangeError(
      `Cannot run the bounce loop as 'pollIntervalMs' must be > 0: current value is ${pollIntervalMs}`,
    );
  }
  while (!signal.aborted) {
    await pollMailbox(options, signal);
    try {
      await clock.sleep(pollIntervalMs, signal);
    } catch {
      // Aborted while waiting: the loop condition ends it.
    }
  }
}
