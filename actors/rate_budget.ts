/**
 * A destination's message (or connection) rate budget: several rates enforced at once, e.g.
 * `"10/s"` and `"20000/d"`, each with the generic cell rate algorithm (GCRA, ITU-T I.371). GCRA
 * keeps one number per rate, the theoretical arrival time (TAT), instead of a log of recent
 * sends, so 100,000 idle domains cost nothing and a rate of `"50000/d"` costs as little as
 * `"10/s"`.
 *
 * A rate of `count` per `perMs` spaces cells `perMs / count` apart; `burst` cells may go back to
 * back after a quiet spell. The window guarantee follows from that: any window of `perMs` sees
 * at most `count + burst - 1` cells. The default burst of 1 therefore keeps the strict promise
 * receivers measure, "never more than `count` in any window of `perMs`", at the price of sending
 * evenly spaced rather than in clumps; raise `burst` only where the receiver tolerates clumps.
 *
 * Times are whole milliseconds supplied by the caller (`now`, as `Clock.now()` gives them), so
 * the budget is pure arithmetic: no clock, no timers, trivially testable and cheap to snapshot
 * for the admin API. The same numbers, saved ({@link RateBudget.save}) and restored later
 * ({@link RateBudget.restore}), let a budget outlive its actor: a TAT is a time since the epoch,
 * so whatever time passed in between counts as it would have in memory.
 *
 * @module
 */

/**
 * A rate: `count` events per `perMs` milliseconds (the shape lib/units.ts `parseRate` returns),
 * optionally with a `burst` (default 1: evenly spaced, see the module notes).
 */
export interface Rate {
  readonly count: number;
  readonly perMs: number;
  readonly burst?: number;
}

export type TakeResult =
  | { readonly ok: true }
  /** `retryAt`: the earliest time (ms, >= now) at which every rate would allow the same take. */
  | { readonly ok: false; readonly retryAt: number };

/** One rate of a {@link BudgetSnapshot}. */
export interface RateSnapshot {
  readonly count: number;
  readonly perMs: number;
  readonly burst: number;
  /** Cells this rate alone would let through right now (0..burst). */
  readonly available: number;
  /** When this rate alone lets the next cell through (`now` when it would now). */
  readonly nextFreeAt: number;
}

/**
 * One rate's GCRA state as saved: the rate it belongs to (as the budget enforces it) and its
 * theoretical arrival time in epoch milliseconds, null when the rate was never used.
 */
export interface SavedRate {
  readonly count: number;
  readonly perMs: number;
  readonly tat: number | null;
}

/** The budget as the admin API shows it. */
export interface BudgetSnapshot {
  /** Cells every rate lets through right now (capped like {@link RateBudget.available}). */
  readonly available: number;
  /** When the next cell may go (`now` when it may go now). */
  readonly nextFreeAt: number;
  readonly rates: readonly RateSnapshot[];
}

export interface AvailableOptions {
  /** Count what could be taken from now until `now + withinMs` (default 0: right now). */
  readonly withinMs?: number;
  /** Stop counting here (default {@link DEFAULT_AVAILABLE_MAX}); also the answer with no rates. */
  readonly max?: number;
}

/** What {@link RateBudget.available} answers at most unless told otherwise. */
export const DEFAULT_AVAILABLE_MAX = 1000;

/**
 * Floating-point slack: rates like 3/s have a non-integer spacing, and a TAT that should be
 * exactly 1000 may come out as 1000.0000000000001. A millionth of a millisecond of leniency
 * avoids a spurious 1 ms wait and cannot let a measurable extra cell through.
 */
const EPSILON = 1e-6;

interface Gcra {
  readonly rate: Rate;
  /** Emission interval: the spacing between cells at the sustained rate. */
  readonly interval: number;
  readonly burst: number;
  /** Theoretical arrival time of the next cell; -Infinity when never used. */
  tat: number;
}

export class RateBudget {
  readonly #cells: readonly Gcra[];
  readonly #minBurst: number;

  /** An empty list of rates is an unlimited budget. */
  constructor(rates: readonly Rate[]) {
    this.#cells = rates.map((rate, i) => {
      checkRate(rate, i);
      const burst = rate.burst ?? 1;
      return { rate, interval: rate.perMs / rate.count, burst, tat: -Infinity };
    });
    this.#minBurst = Math.min(...this.#cells.map((c) => c.burst));
  }

  get rates(): readonly Rate[] {
    return this.#cells.map((c) => c.rate);
  }

  /**
   * Takes `n` cells from every rate if all of them allow it now, else takes nothing and says
   * when they would. `n` above the smallest burst can never pass and is a RangeError.
   */
  tryTake(now: number, n = 1): TakeResult {
    const at = this.whenAvailable(now, n);
    if (at > now) return { ok: false, retryAt: at };
    for (const c of this.#cells) {
      // Callers act on whole milliseconds, so a take up to 1 ms after the TAT is on time: book
      // it at the TAT. Booking it at `now` would lose the fraction on every cell of a rate
      // like 3/s (333.3 ms apart) and drift below the rate. The window bound still holds for
      // whole-ms times: the booked times form a conforming GCRA sequence less than 1 ms earlier.
      c.tat = (c.tat > now - 1 ? c.tat : now) + n * c.interval;
    }
    return { ok: true };
  }

  /** The earliest time (>= now, whole ms) at which `n` cells could be taken; takes nothing. */
  whenAvailable(now: number, n = 1): number {
    this.#checkN(n);
    let at = now;
    for (const c of this.#cells) {
      // GCRA: n cells conform at t when max(tat, t) + n*T - burst*T <= t, i.e. t >= this.
      const conformsAt = c.tat + (n - c.burst) * c.interval;
      if (conformsAt > now + EPSILON) at = Math.max(at, Math.ceil(conformsAt - EPSILON));
    }
    return at;
  }

  /**
   * How many cells could be taken, one after another as early as each is allowed, from `now`
   * until `now + withinMs`; used to decide how much work to claim. With the default burst of 1
   * this is at most 1 for `withinMs: 0`, so claim with a horizon (e.g. the next few seconds).
   */
  available(now: number, options: AvailableOptions = {}): number {
    const max = options.max ?? DEFAULT_AVAILABLE_MAX;
    const horizon = now + (options.withinMs ?? 0);
    if (this.#cells.length === 0) return max;
    const tats = this.#cells.map((c) => c.tat);
    let t = now;
    let count = 0;
    while (count < max) {
      for (let i = 0; i < tats.length; i++) {
        const c = this.#cells[i]!;
        t = Math.max(t, tats[i]! + (1 - c.burst) * c.interval);
      }
      if (t > horizon + EPSILON) break;
      for (let i = 0; i < tats.length; i++) {
        tats[i] = Math.max(tats[i]!, t) + this.#cells[i]!.interval;
      }
      count++;
    }
    return count;
  }

  /** Every rate's TAT, to continue from later ({@link restore}); plain JSON. */
  save(): SavedRate[] {
    return this.#cells.map((c) => ({
      count: c.rate.count,
      perMs: c.rate.perMs,
      tat: Number.isFinite(c.tat) ? c.tat : null,
    }));
  }

  /**
   * Continues from a {@link save}d state. Each rate takes the TAT saved for the same rate (count
   * and period); a rate that was not saved (new in the configuration) starts full, and a saved
   * rate no longer configured is dropped: a changed rate's old TAT says nothing about the new
   * one. A TAT in the past needs no care: GCRA reads it as a full budget, so a state restored
   * after a long gap lets as much through as a new one. A TAT further ahead than the rate's
   * burst could ever have put it (saved by an instance whose clock ran ahead of this one's) is
   * brought back to that bound, so a skewed clock cannot stall a destination for longer than one
   * burst's worth of spacing.
   */
  restore(saved: readonly SavedRate[], now: number): void {
    const unused = [...saved];
    for (const c of this.#cells) {
      const i = unused.findIndex((s) => sameRate(s, c.rate));
      if (i < 0) continue;
      const [s] = unused.splice(i, 1);
      if (s!.tat === null || !Number.isFinite(s!.tat)) continue;
      c.tat = Math.max(c.tat, Math.min(s!.tat, now + c.burst * c.interval));
    }
  }

  snapshot(now: number): BudgetSnapshot {
    return {
      available: this.available(now),
      nextFreeAt: this.whenAvailable(now),
      rates: this.#cells.map((c) => {
        const debt = Math.max(0, c.tat - now) / c.interval;
        const conformsAt = c.tat + (1 - c.burst) * c.interval;
        return {
          count: c.rate.count,
          perMs: c.rate.perMs,
          burst: c.burst,
          available: Math.max(0, Math.min(c.burst, Math.floor(c.burst - debt + EPSILON))),
          nextFreeAt: conformsAt > now + EPSILON ? Math.ceil(conformsAt - EPSILON) : now,
        };
      }),
    };
  }

  #checkN(n: number): void {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`Cannot take ${n} cells as 'n' must be an integer >= 1`);
    }
    if (n > this.#minBurst) {
      throw new RangeError(
        `Cannot take ${n} cells as 'n' must be <= the smallest burst: current smallest burst is ${this.#minBurst}`,
      );
    }
  }
}

/**
 * Whether a saved rate is this one. Periods carry the relay's margin (a float product), so they
 * are compared with a tolerance far below any period a configuration can write.
 */
function sameRate(saved: SavedRate, rate: Rate): boolean {
  return saved.count === rate.count && Math.abs(saved.perMs - rate.perMs) <= 1e-6 * rate.perMs;
}

function checkRate(rate: Rate, i: number): void {
  if (!(rate.count > 0) || !Number.isFinite(rate.count)) {
    throw new RangeError(
      `Cannot use rate ${i} as 'count' must be > 0: current value is ${rate.count}`,
    );
  }
  if (!(rate.perMs > 0) || !Number.isFinite(rate.perMs)) {
    throw new RangeError(
      `Cannot use rate ${i} as 'perMs' must be > 0: current value is ${rate.perMs}`,
    );
  }
  const burst = rate.burst ?? 1;
  if (!Number.isInteger(burst) || burst < 1) {
    throw new RangeError(
      `Cannot use rate ${i} as 'burst' must be an integer >= 1: current value is ${burst}`,
    );
  }
}
