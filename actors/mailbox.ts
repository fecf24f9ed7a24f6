/**
 * An actor's inbox: bounded, so a slow destination pushes back on the supervisor (`offer`
 * answers false when full, and the supervisor stops claiming for it) instead of growing without
 * limit; and ordered by priority, so high-priority mail overtakes low-priority mail already
 * queued for the same destination. Within a priority, first in, first out.
 *
 * Priorities are those of `ferry.outbox.priority`: 0 high, 1 normal, 2 low.
 *
 * @module
 */

export type Priority = 0 | 1 | 2;

const PRIORITIES: readonly Priority[] = [0, 1, 2];

/** A FIFO queue with O(1) amortised push and shift (Array#shift is O(n)). */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined as T; // let it be collected
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  clear(): T[] {
    const rest = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return rest;
  }
}

interface Taker<T> {
  readonly give: (item: T) => void;
}

export class Mailbox<T> {
  readonly #queues: readonly [Fifo<T>, Fifo<T>, Fifo<T>] = [new Fifo(), new Fifo(), new Fifo()];
  readonly #takers: Taker<T>[] = [];
  #size = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Cannot create mailbox as 'capacity' must be an integer >= 1: current value is ${capacity}`,
      );
    }
  }

  /** Items queued. */
  get size(): number {
    return this.#size;
  }

  /** Items that can still be offered before the mailbox is full. */
  get room(): number {
    return this.capacity - this.#size;
  }

  /** Items queued at one priority (for the admin API). */
  sizeOf(priority: Priority): number {
    return this.#queues[checkPriority(priority)].length;
  }

  /** Queues `item`, or hands it straight to a waiting taker; false when full. */
  offer(item: T, priority: Priority = 1): boolean {
    const queue = this.#queues[checkPriority(priority)];
    const taker = this.#takers.shift();
    if (taker) {
      taker.give(item);
      return true;
    }
    if (this.#size >= this.capacity) return false;
    queue.push(item);
    this.#size++;
    return true;
  }

  /** The most urgent item now, or `undefined` when empty. */
  poll(): T | undefined {
    for (const p of PRIORITIES) {
      const queue = this.#queues[p];
      if (queue.length > 0) {
        this.#size--;
        return queue.shift();
      }
    }
    return undefined;
  }

  /** The most urgent item, waiting for one if empty; rejects with the signal's reason. */
  take(signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#size > 0) return Promise.resolve(this.poll() as T);
    return new Promise((resolve, reject) => {
      const taker: Taker<T> = {
        give: (item) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(item);
        },
      };
      const onAbort = () => {
        const i = this.#takers.indexOf(taker);
        if (i >= 0) this.#takers.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#takers.push(taker);
    });
  }

  /** Empties the mailbox, most urgent first: what a stopping or crashed actor hands back. */
  drain(): T[] {
    const all = this.#queues.flatMap((q) => q.clear());
    this.#size = 0;
    return all;
  }
}

function checkPriority(priority: number): Priority {
  if (priority !== 0 && priority !== 1 && priority !== 2) {
    throw new RangeError(
      `Cannot queue item as 'priority' must be 0, 1 or 2: current value is ${priority}`,
    );
  }
  return priority;
}
