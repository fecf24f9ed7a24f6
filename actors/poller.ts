/**
 * Adaptive polling, the wake-up for new outbox rows underneath LISTEN/NOTIFY (see db/README.md).
 * While a poll comes back full there may be more: poll again at once. While polls find rows (a
 * steady stream), wait only `minMs`: the next row is due about as soon. When a poll comes back
 * empty, wait, doubling the wait from `minMs` up to `maxMs`, so an idle relay costs a few cheap
 * index probes a second and a busy one never sleeps. `wake()` (a LISTEN notification, an HTTP
 * enqueue) cuts a wait short, or, woken while a poll runs, makes the next poll start at once.
 *
 * @module
 */
import type { Clock } from "./ports.ts";

/**
 * The reason every wait of this module is cut short with: `abort()` without one allocates a new
 * DOMException (with a stack trace) each time, and waits end thousands of times a second.
 */
const WOKEN = new DOMException("The wait was cut short", "AbortError");

export interface PollerOptions {
  readonly clock: Clock;
  readonly minMs: number;
  readonly maxMs: number;
  /**
   * One poll. `more: true` when the batch was full; `found: true` when it took any row (default:
   * as `more`).
   */
  readonly poll: () => Promise<{ readonly more: boolean; readonly found?: boolean }>;
  /** A failed poll: reported, then retried after `maxMs`. */
  readonly onError: (error: unknown) => void;
}

/** The idle wait after `idlePolls` consecutive empty polls: a pure function of the count. */
export function idleDelay(idlePolls: number, minMs: number, maxMs: number): number {
  if (idlePolls <= 0) return 0;
  return Math.min(maxMs, minMs * 2 ** Math.min(idlePolls - 1, 30));
}

export class Poller {
  #wake: AbortController | undefined;
  #idle = 0;
  /** Woken while no wait was pending: the next wait is skipped. */
  #woken = false;

  constructor(readonly options: PollerOptions) {
    if (!(options.minMs > 0) || !(options.maxMs >= options.minMs)) {
      throw new RangeError(
        `Cannot poll as 'minMs' must be > 0 and <= 'maxMs': current values are ${options.minMs} and ${options.maxMs}`,
      );
    }
  }

  /** Ends a pending wait now (e.g. on NOTIFY). */
  wake(): void {
    this.#idle = 0;
    if (this.#wake) this.#wake.abort(WOKEN);
    else this.#woken = true;
  }

  /** Polls until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const { minMs, maxMs } = this.options;
    while (!signal.aborted) {
      let delay: number;
      // A wake from here on may be for a row this poll does not see.
      this.#woken = false;
      try {
        const { more, found = more } = await this.options.poll();
        this.#idle = more ? 0 : found ? 1 : this.#idle + 1;
        delay = idleDelay(this.#idle, minMs, maxMs);
      } catch (err) {
        this.options.onError(err);
        delay = maxMs;
      }
      if (delay > 0) await this.#wait(delay, signal);
    }
  }

  async #wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#woken) return;
    const wake = new AbortController();
    this.#wake = wake;
    const both = AbortSignal.any([wake.signal, signal]);
    await this.options.clock.sleep(ms, both).catch(() => {});
    this.#wake = undefined;
  }
}
