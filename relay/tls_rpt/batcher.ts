/**
 * The {@link TlsResultSink} the deliverer is given: `record()` adds one session to a counter in
 * memory and returns at once; the counters go to the store in batches, the way the outcome
 * batcher writes outcomes. While one write is in flight new results accumulate, and the next
 * write takes them all: a quiet relay writes each result at once, a busy one a few hundred
 * counters per statement, with no timer. Sessions that share a counter (same day, policy and
 * outcome) cost no memory at all, so the buffer is bounded by distinct counters, not sessions.
 *
 * What cannot be kept is dropped and said so through `dropped`: counts are statistics (RFC 8460
 * §4.2), and a report a little short is better than a relay that grows without bound or waits
 * for them.
 *
 * @module
 */
import { countKey, countOf, type ResultCount } from "./counts.ts";
import type { TlsResult, TlsResultSink } from "./result.ts";

/** Where counters go: adds each counter's sessions to the stored one (creating it if new). */
export interface TlsResultStore {
  add(counts: readonly ResultCount[]): Promise<void>;
}

export interface TlsResultBatcherOptions {
  /** Most counters per write (default 500). */
  readonly maxBatch?: number;
  /** Most counters held in memory (default 10,000); a session needing one more is dropped. */
  readonly maxHeld?: number;
  /**
   * Told of a failed write; resolves true to write the same counters again (after waiting for
   * the database to return), false to drop them. Default: drop them.
   */
  readonly retry?: (err: unknown) => Promise<boolean>;
  /** Told how many sessions were dropped, and why. */
  readonly dropped?: (sessions: number, reason: string) => void;
}

type Held = { -readonly [K in keyof ResultCount]: ResultCount[K] };

export class TlsResultBatcher implements TlsResultSink {
  #held = new Map<string, Held>();
  #writing: Promise<void> | undefined;
  readonly #maxBatch: number;
  readonly #maxHeld: number;

  constructor(readonly store: TlsResultStore, readonly options: TlsResultBatcherOptions = {}) {
    this.#maxBatch = options.maxBatch ?? 500;
    this.#maxHeld = options.maxHeld ?? 10_000;
  }

  /** Counters waiting to be written. */
  get held(): number {
    return this.#held.size;
  }

  record(result: TlsResult): void {
    let count: ResultCount | undefined;
    try {
      count = countOf(result);
    } catch (err) {
      // The delivery path must not fail for a statistic.
      this.options.dropped?.(1, `unreadable result: ${err instanceof Error ? err.message : err}`);
      return;
    }
    if (!count) {
      this.options.dropped?.(1, `${JSON.stringify(result.domain)} is not a domain name`);
      return;
    }
    this.#add(count, false);
    this.#kick();
  }

  /** Resolves when every result recorded so far is written or dropped. */
  async flush(): Promise<void> {
    while (this.#writing || this.#held.size > 0) {
      this.#kick();
      await this.#writing;
    }
  }

  #add(count: ResultCount, returning: boolean): void {
    const key = countKey(count);
    const held = this.#held.get(key);
    if (held) {
      held.sessions += count.sessions;
    } else if (!returning && this.#held.size >= this.#maxHeld) {
      this.options.dropped?.(count.sessions, `more than ${this.#maxHeld} counters held`);
    } else {
      // Counters coming back from a failed write were held before: they may exceed the bound
      // by one batch, rather than be lost.
      this.#held.set(key, { ...count });
    }
  }

  #kick(): void {
    if (this.#writing || this.#held.size === 0) return;
    this.#writing = this.#writeNext().finally(() => {
      this.#writing = undefined;
      this.#kick();
    });
  }

  async #writeNext(): Promise<void> {
    const batch: ResultCount[] = [];
    for (const [key, count] of this.#held) {
      if (batch.length >= this.#maxBatch) break;
      batch.push(count);
      this.#held.delete(key);
    }
    try {
      await this.store.add(batch);
    } catch (err) {
      let again = false;
      try {
        again = (await this.options.retry?.(err)) ?? false;
      } catch {
        again = false;
      }
      if (again) {
        for (const c of batch) this.#add(c, true);
        return;
      }
      const sessions = batch.reduce((n, c) => n + c.sessions, 0);
      this.options.dropped?.(sessions, err instanceof Error ? err.message : String(err));
    }
  }
}
