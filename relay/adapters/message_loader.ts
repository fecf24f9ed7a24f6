/**
 * Coalesces the reads of outbox rows for sending into few statements, the way the outcome
 * batcher coalesces writes: while one read is in flight, new requests accumulate, and the next
 * read takes them all (`WHERE id = any(...)`). A quiet relay reads each row at once; a busy one
 * reads hundreds per statement instead of one statement per message. No timer, no added latency.
 *
 * Rows read ahead (the claim statement returns the content of the messages it claims) are
 * {@link MessageLoader.prime}d: the next load of each takes it without a statement. Rows primed
 * but never asked for (their message was already composed, or its claim was handed back) are
 * dropped oldest first beyond a byte budget, so read-ahead never holds more than that.
 *
 * @module
 */

interface Waiting<V> {
  readonly resolve: (value: V | undefined) => void;
  readonly reject: (err: unknown) => void;
}

export interface PrimeOptions<V> {
  /** About how many bytes a row holds, for the budget. */
  readonly sizeOf: (value: V) => number;
  /** At most this many bytes of primed rows are kept (default 32 MiB). */
  readonly maxBytes?: number;
}

export class MessageLoader<V> {
  /** Requested ids not yet read, each with everyone waiting for it. */
  #queued = new Map<number, Waiting<V>[]>();
  #reading = false;
  /** Rows read ahead, by id, oldest first, with their size. */
  readonly #primed = new Map<number, { value: V; size: number }>();
  #primedBytes = 0;

  constructor(
    readonly loadMany: (ids: readonly number[]) => Promise<ReadonlyMap<number, V>>,
    readonly maxBatch = 500,
    readonly priming?: PrimeOptions<V>,
  ) {}

  /** The row of `id`, or undefined when it does not exist. */
  load(id: number): Promise<V | undefined> {
    const primed = this.#take(id);
    if (primed) return Promise.resolve(primed.value);
    return new Promise((resolve, reject) => {
      const waiting = this.#queued.get(id);
      if (waiting) waiting.push({ resolve, reject });
      else this.#queued.set(id, [{ resolve, reject }]);
      this.#kick();
    });
  }

  /**
   * Rows already read elsewhere: loads waiting for them get them now, later loads take them
   * without a read. Without `priming` options (or for a row larger than the budget), ignored.
   */
  prime(rows: Iterable<readonly [number, V]>): void {
    if (!this.priming) return;
    const max = this.priming.maxBytes ?? 32 * 1024 * 1024;
    for (const [id, value] of rows) {
      const waiting = this.#queued.get(id);
      if (waiting) {
        this.#queued.delete(id);
        for (const w of waiting) w.resolve(value);
        continue;
      }
      const size = this.priming.sizeOf(value);
      if (size > max) continue;
      this.#take(id);
      this.#primed.set(id, { value, size });
      this.#primedBytes += size;
      while (this.#primedBytes > max) this.#take(this.#primed.keys().next().value!);
    }
  }

  #take(id: number): { value: V } | undefined {
    const entry = this.#primed.get(id);
    if (!entry) return undefined;
    this.#primed.delete(id);
    this.#primedBytes -= entry.size;
    return entry;
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
