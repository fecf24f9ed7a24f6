/**
 * Coalesces the reads of outbox rows for sending into few statements, the way the outcome
 * batcher coalesces writes: while one read is in flight, new requests accumulate, and the next
 * read takes them all (`WHERE id = any(...)`). A quiet relay reads each row at once; a busy one
 * reads hundreds per statement instead of one statement per message. No timer, no added latency.
 *
 * @module
 */

interface Waiting<V> {
  readonly resolve: (value: V | undefined) => void;
  readonly reject: (err: unknown) => void;
}

export class MessageLoader<V> {
  /** Requested ids not yet read, each with everyone waiting for it. */
  #queued = new Map<number, Waiting<V>[]>();
  #reading = false;

  constructor(
    readonly loadMany: (ids: readonly number[]) => Promise<ReadonlyMap<number, V>>,
    readonly maxBatch = 500,
  ) {}

  /** The row of `id`, or undefined when it does not exist. */
  load(id: number): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const waiting = this.#queued.get(id);
      if (waiting) waiting.push({ resolve, reject });
      else this.#queued.set(id, [{ resolve, reject }]);
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#reading || this.#queued.size === 0) return;
    const batch = new Map<number, Waiting<V>[]>();
    for (const [id, waiting] of this.#queued) {
      if (batch.size >= this.maxBatch) break;
      batch.set(id, waiting);
    }
    for (const id of batch.keys()) this.#queued.delete(id);
    this.#reading = true;
    this.loadMany([...batch.keys()]).then(
      (rows) => {
        for (const [id, waiting] of batch) for (const w of waiting) w.resolve(rows.get(id));
      },
      (err) => {
        for (const waiting of batch.values()) for (const w of waiting) w.reject(err);
      },
    ).finally(() => {
      this.#reading = false;
      this.#kick();
    });
  }
}
