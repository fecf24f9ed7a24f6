/**
 * Coalesces outcome writes from every actor into few statements. While one write is in flight,
 * new outcomes accumulate; the next write takes them all. So a quiet relay writes each outcome
 * at once, and a busy one writes hundreds per statement, with no timer and no added latency.
 * `record()` resolves once the outcome is durable, so an actor never reports success it has not
 * written.
 *
 * @module
 */
import type { OutcomeRecord } from "./ports.ts";

interface Pending {
  readonly outcome: OutcomeRecord;
  readonly resolve: (refused: boolean) => void;
  readonly reject: (err: unknown) => void;
}

export class OutcomeBatcher {
  #buffer: Pending[] = [];
  #writing: Promise<void> | undefined;

  constructor(
    readonly write: (outcomes: readonly OutcomeRecord[]) => Promise<{ refused: number[] }>,
    readonly maxBatch = 1000,
  ) {}

  /** Writes one outcome; resolves `true` when it was refused (the lease was lost). */
  record(outcome: OutcomeRecord): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.#buffer.push({ outcome, resolve, reject });
      this.#kick();
    });
  }

  /** Writes many outcomes; resolves with the ids refused. */
  async recordAll(outcomes: readonly OutcomeRecord[]): Promise<number[]> {
    const refused = await Promise.all(outcomes.map((o) => this.record(o)));
    return outcomes.filter((_, i) => refused[i]).map((o) => o.delivery.id);
  }

  /** Resolves when everything recorded so far is written. */
  async flush(): Promise<void> {
    while (this.#writing || this.#buffer.length > 0) {
      this.#kick();
      await this.#writing;
    }
  }

  #kick(): void {
    if (this.#writing || this.#buffer.length === 0) return;
    const batch = this.#buffer.splice(0, this.maxBatch);
    this.#writing = this.write(batch.map((p) => p.outcome)).then(
      ({ refused }) => {
        const lost = new Set(refused);
        for (const p of batch) p.resolve(lost.has(p.outcome.delivery.id));
      },
      (err) => {
        for (const p of batch) p.reject(err);
      },
    ).finally(() => {
      this.#writing = undefined;
      this.#kick();
    });
  }
}
