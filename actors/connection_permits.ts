/**
 * Connection slots for one destination: a counting semaphore whose limit moves at runtime
 * (AIMD raises and cuts it, an unreachable destination sets it to 0). A slot is a `Disposable`
 * {@link Permit}, so `using permit = await permits.acquire(signal)` gives it back on every path
 * out of the block, exceptions included: slots cannot leak.
 *
 * Lowering the limit below the slots in use takes nothing away from their holders (an SMTP
 * transaction in flight finishes); it only holds new acquisitions back until enough permits
 * come home. Waiters are served strictly in arrival order, and `tryAcquire` does not jump the
 * queue, so a burst of opportunistic callers cannot starve one that is waiting.
 *
 * @module
 */

/** One connection slot; releasing it twice is a no-op. */
export interface Permit extends Disposable {
  readonly released: boolean;
  release(): void;
}

interface Waiter {
  readonly grant: (permit: Permit) => void;
}

export class ConnectionPermits {
  #limit: number;
  #inUse = 0;
  readonly #waiters: Waiter[] = [];

  constructor(limit: number) {
    this.#limit = checkLimit(limit);
  }

  get limit(): number {
    return this.#limit;
  }

  /** Raising the limit wakes waiters at once; lowering it lets current holders finish. */
  set limit(value: number) {
    this.#limit = checkLimit(value);
    this.#wake();
  }

  get inUse(): number {
    return this.#inUse;
  }

  /** Callers parked in {@link acquire}. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** A permit now, or `undefined` when none is free or others are already waiting. */
  tryAcquire(): Permit | undefined {
    if (this.#waiters.length > 0 || this.#inUse >= this.#limit) return undefined;
    return this.#issue();
  }

  /** A permit as soon as one is free, in arrival order; rejects with the signal's reason. */
  acquire(signal?: AbortSignal): Promise<Permit> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: (permit) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(permit);
        },
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #issue(): Permit {
    this.#inUse++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#inUse--;
      this.#wake();
    };
    return {
      get released() {
        return released;
      },
      release,
      [Symbol.dispose]: release,
    };
  }

  #wake(): void {
    while (this.#waiters.length > 0 && this.#inUse < this.#limit) {
      this.#waiters.shift()!.grant(this.#issue());
    }
  }
}

function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 0) {
    throw new RangeError(
      `Cannot set connection limit as 'limit' must be an integer >= 0: current value is ${limit}`,
    );
  }
  return limit;
}
