/**
 * Coalesces outcome writes from every actor into few statements. While one write is in flight,
 * new outcomes accumulate; the next write takes them all. So a quiet relay writes each outcome
 * at once, and a busy one writes hundreds per statement, with no timer and no added latency.
 * `record()` resolves once the outcome is durable, so an actor never reports success it has not
 * written.
 *
 * When a write fails, `retry` decides: while the database is away it waits for it and the same
 * outcomes are written once it is back (a mail that got its 250 is not sent again); otherwise the
 * batch is given up. Outcomes given up, and outcomes beyond `maxHeld` while writes fail, resolve
 * as refused: their deliveries keep their leases and go back to the queue when those end, so
 * nothing is lost (at worst a mail is sent twice). `record()` never rejects.
 *
 * @module
 */
import type { OutcomeRecord } from "./ports.ts";

interface Pending {
  readonly outcome: OutcomeRecord;
  readonly resolve: (refused: boolean) => void;
}

export interface OutcomeBatcherOptions {
  /** Most outcomes per statement. */
  readonly maxBatch?: number;
  /** Most outcomes held in memory while writes fail; newer ones are given up at once. */
  readonly maxHeld?: number;
  /**
   * Told of a failed write; resolves true to write the same batch again (after waiting for the
   * database to return), false to give it up. Default: give up.
   */
  readonly retry?: (err: unknown) => Promise<boolean>;
  /** Told how many outcomes were given up and why (they return to the queue with their lease). */
  readonly gaveUp?: (count: number, reason: string) => void;
}

export class OutcomeBatcher {
  #buffer: Pending[] = [];
  #writing: Promise<void> | undefined;
  #failing = false;
  readonly #maxBatch: number;
  readonly #maxHeld: number;
  readonly #options: OutcomeBatcherOptions;

  constructor(
    readonly write: (outcomes: readonly OutcomeRecord[]) => Promise<{ refused: number[] }>,
    options: OutcomeBatcherOptions = {},
  ) {
    this.#options = options;
    this.#maxBatch = options.maxBatch ?? 1000;
    this.#maxHeld = options.maxHeld ?? 100_000;
  }

  /** Outcomes waiting to be written (held while the database is away). */
  get held(): number {
    return this.#buffer.length;
  }

  /** Writes one outcome; resolves `true` when it was refused (the lease was lost) or given up. */
  record(outcome: OutcomeRecord): Promise<boolean> {
    if (this.#failing && this.#buffer.length >= this.#maxHeld) {
      this.#options.gaveUp?.(1, `more than ${this.#maxHeld} outcomes held`);
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      this.#buffer.push({ outcome, resolve });
      this.#kick();
    });
  }

  /** Writes many outcomes; resolves with the ids refused. */
  async recordAll(outcomes: readonly OutcomeRecord[]): Promise<number[]> {
    const refused = await Promise.all(outcomes.map((o) => this.record(o)));
    return outcomes.filter((_, i) => refused[i]).map((o) => o.delivery.id);
  }

  /** Resolves when everything recorded so far is written or given up. */
  async flush(): Promise<void> {
    while (this.#writing || this.#buffer.length > 0) {
      this.#kick();
      await this.#writing;
    }
  }

  #kick(): void {
    if (this.#writing || this.#buffer.length === 0) return;
    this.#writing = this.#writeNext().finally(() => {
      this.#writing = undefined;
      this.#kick();
    });
  }

  async #writeNext(): Promise<void> {
    const batch = this.#buffer.splice(0, this.#maxBatch);
    try {
      const { refused } = await this.write(batch.map((p) => p.outcome));
      this.#failing = false;
      const lost = new Set(refused);
      for (const p of batch) p.resolve(lost.has(p.outcome.delivery.id));
    } catch (err) {
      this.#failing = true;
      let again = false;
      try {
        again = (await this.#options.retry?.(err)) ?? false;
      } catch {
        again = false;
      }
      if (again) {
        this.#buffer.unshift(...batch);
        return;
      }
      this.#options.gaveUp?.(batch.length, err instanceof Error ? err.message : String(err));
      for (const p of batch) p.resolve(true);
    }
  }
}
