import type { Clock } from "../../lib/clock.ts";

interface Sleeper {
  at: number;
  seq: number;
  resolve: () => void;
}

/**
 * A clock that moves only when the test says so. `sleep()` registers a waiter; `advance(ms)`
 * moves time forward and resolves every waiter that is due, in deadline order, letting the
 * microtask queue settle between them so chained sleeps behave as they would in real time.
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #sleepers: Sleeper[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** How many sleeps are pending: lets a test wait until the code under test is parked. */
  get pending(): number {
    return this.#sleepers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sleeper: Sleeper = {
        at: this.#now + Math.max(0, ms),
        seq: this.#seq++,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#sleepers.push(sleeper);
    });
  }

  /** Moves time forward by `ms`, waking every sleeper due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await settle();
      const due = this.#sleepers
        .filter((s) => s.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#sleepers = this.#sleepers.filter((s) => s !== due);
      this.#now = Math.max(this.#now, due.at);
      due.resolve();
    }
    this.#now = target;
    await settle();
  }

  /**
   * Resolves once something sleeps until exactly `at`: lets a test wait until a periodic loop has
   * finished its pass and parked, so that `advance()` wakes it instead of racing its last await.
   */
  async untilSleepingAt(at: number, maxTurns = 10_000): Promise<void> {
    for (let i = 0; i < maxTurns; i++) {
      if (this.#sleepers.some((s) => s.at === at)) return;
      await new Promise((r) => setTimeout(r, 0));
    }
    throw new Error(`Cannot wait for a sleeper as none sleeps until ${new Date(at).toISOString()}`);
  }

  /** Resolves once something is sleeping on this clock (polls the microtask/macrotask queue). */
  async untilSleeping(count = 1, maxTurns = 10_000): Promise<void> {
    for (let i = 0; i < maxTurns; i++) {
      if (this.#sleepers.length >= count) return;
      await new Promise((r) => setTimeout(r, 0));
    }
    throw new Error(
      `Cannot wait for sleepers as none arrived: wanted ${count}, have ${this.#sleepers.length}`,
    );
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}
