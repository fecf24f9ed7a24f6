/**
 * Outcome counts over a sliding window of the injected clock, in 10-second buckets: the bounce
 * and deferral rates a dashboard shows without PromQL.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";

const BUCKET_MS = 10_000;

export class OutcomeWindow {
  #buckets = new Map<number, Map<string, number>>();

  constructor(readonly clock: Clock, readonly windowMs: number) {}

  record(kind: string): void {
    const key = Math.floor(this.clock.now() / BUCKET_MS);
    const bucket = this.#buckets.get(key) ?? new Map<string, number>();
    bucket.set(kind, (bucket.get(kind) ?? 0) + 1);
    this.#buckets.set(key, bucket);
    this.#prune();
  }

  /** Count of `kind` and of every outcome within the window. */
  counts(kind: string): { readonly of: number; readonly total: number } {
    this.#prune();
    let of = 0;
    let total = 0;
    for (const bucket of this.#buckets.values()) {
      for (const [k, n] of bucket) {
        total += n;
        if (k === kind) of += n;
      }
    }
    return { of, total };
  }

  /** `kind`'s share of all outcomes in the window; 0 when there were none. */
  share(kind: string): number {
    const { of, total } = this.counts(kind);
    return total === 0 ? 0 : of / total;
  }

  #prune(): void {
    const oldest = Math.floor((this.clock.now() - this.windowMs) / BUCKET_MS);
    for (const key of this.#buckets.keys()) if (key <= oldest) this.#buckets.delete(key);
  }
}
