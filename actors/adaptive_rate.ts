/**
 * Adaptive message rate for one destination: the rate the receiver itself tolerates, learnt from
 * its throttling replies, enforced on top of the configured rates (actors/rate_budget.ts). The
 * same AIMD shape as the connection limit (actors/aimd.ts, RFC 5681 §3.1 in spirit), applied to
 * messages per second:
 *
 * - **Free** until the receiver asks to slow down: only the configured rates apply.
 * - **Cut** on a slow-down: the new limit is `decreaseFactor` times the rate actually sent over
 *   the last `windowMs` (or the limit in force, when lower), never below `minPerSecond`. Slow-down
 *   replies within `cooldownMs` of a cut do not cut again: the transactions in flight when the
 *   receiver started refusing all answer alike, and they are one signal, not several.
 * - **Recover additively**: every `increaseIntervalMs` with a successful transaction adds a
 *   fixed step, `increaseShare` of the limit the last cut set (at least `minPerSecond`), so a
 *   halved rate is back where it was after 1 / `increaseShare` intervals, in a straight line,
 *   never in a jump.
 * - **Released** once the limit is back at the rate sent when the episode began: the receiver
 *   took that rate again, so the configured rates alone apply until it complains anew.
 *
 * The rate is measured with a two-bucket sliding window (the previous window weighted by the share
 * of it still inside the last `windowMs`): two numbers whatever the rate. The limit is enforced
 * with GCRA at a burst of 1, like the configured rates: sends at most `perSecond` apart.
 *
 * A discriminated union of readonly records and pure functions, like aimd.ts; {@link
 * AdaptiveBudget} is the mutable holder that the domain actor uses as its budget. Its state can be
 * saved and restored ({@link AdaptiveBudget.save}), so a limit the receiver taught us survives a
 * restart or a move of the destination to another instance instead of being learnt again from
 * its refusals.
 *
 * @module
 */
import type { AvailableOptions, TakeResult } from "./rate_budget.ts";

export interface AdaptiveRateConfig {
  /** Multiplier on a cut, in (0, 1). */
  readonly decreaseFactor: number;
  /** Each increase adds this share of the limit the last cut set, in (0, 1]. */
  readonly increaseShare: number;
  /** The shortest time between two increases, or a cut and an increase. */
  readonly increaseIntervalMs: number;
  /** After a cut, slow-downs within this time do not cut again. */
  readonly cooldownMs: number;
  /** The lowest limit, messages per second; also the smallest step. */
  readonly minPerSecond: number;
  /** The window the sending rate is measured over. */
  readonly windowMs: number;
}

export const DEFAULT_ADAPTIVE_RATE_CONFIG: AdaptiveRateConfig = {
  decreaseFactor: 0.5,
  increaseShare: 0.1,
  increaseIntervalMs: 1_000,
  cooldownMs: 2_000,
  minPerSecond: 0.1,
  windowMs: 1_000,
};

/** Cells taken in the current window and the one before (a sliding-window estimate). */
export interface Meter {
  /** Start of the current window, a multiple of `windowMs`. */
  readonly windowStart: number;
  readonly current: number;
  readonly previous: number;
}

export type AdaptiveRateState =
  | { readonly kind: "free"; readonly meter: Meter }
  | {
    readonly kind: "limited";
    readonly meter: Meter;
    /** The limit in force, messages per second. */
    readonly perSecond: number;
    /** What each increase adds. */
    readonly step: number;
    /** The limit at which the episode ends (the rate sent when it began). */
    readonly releaseAt: number;
    readonly lastChangeAt: number;
    readonly lastCutAt: number;
  };

export type AdaptiveRateEvent =
  /** The receiver asked us to send more slowly (a throttling reply). */
  | { readonly kind: "slow_down" }
  /** A transaction was accepted. */
  | { readonly kind: "success" }
  /** `n` cells were taken (messages about to be sent). */
  | { readonly kind: "taken"; readonly n: number };

export function initialAdaptiveRate(): AdaptiveRateState {
  return { kind: "free", meter: { windowStart: -Infinity, current: 0, previous: 0 } };
}

/** The sending rate over the last `windowMs` before `now`, in cells per second. */
export function measuredPerSecond(meter: Meter, now: number, config: AdaptiveRateConfig): number {
  const m = roll(meter, now, config.windowMs);
  const elapsed = Math.min(1, Math.max(0, (now - m.windowStart) / config.windowMs));
  return (m.previous * (1 - elapsed) + m.current) * (1000 / config.windowMs);
}

/** The limit in force, messages per second; undefined while free. */
export function limitPerSecond(state: AdaptiveRateState): number | undefined {
  return state.kind === "limited" ? state.perSecond : undefined;
}

export function transition(
  state: AdaptiveRateState,
  event: AdaptiveRateEvent,
  now: number,
  config: AdaptiveRateConfig,
): AdaptiveRateState {
  switch (event.kind) {
    case "taken": {
      const m = roll(state.meter, now, config.windowMs);
      return { ...state, meter: { ...m, current: m.current + event.n } };
    }
    case "slow_down":
      return slowDown(state, now, config);
    case "success":
      return success(state, now, config);
  }
}

function slowDown(
  s: AdaptiveRateState,
  now: number,
  config: AdaptiveRateConfig,
): AdaptiveRateState {
  if (s.kind === "limited" && now - s.lastCutAt < config.cooldownMs) return s;
  const sent = measuredPerSecond(s.meter, now, config);
  const from = s.kind === "limited" ? Math.min(s.perSecond, sent) : sent;
  const perSecond = Math.max(config.minPerSecond, from * config.decreaseFactor);
  return {
    kind: "limited",
    meter: s.meter,
    perSecond,
    step: Math.max(config.minPerSecond, perSecond * config.increaseShare),
    // The first cut of an episode remembers where it started; later ones keep that goal.
    releaseAt: s.kind === "limited"
      ? s.releaseAt
      : Math.max(sent, perSecond / config.decreaseFactor),
    lastChangeAt: now,
    lastCutAt: now,
  };
}

function success(
  s: AdaptiveRateState,
  now: number,
  config: AdaptiveRateConfig,
): AdaptiveRateState {
  if (s.kind === "free" || now - s.lastChangeAt < config.increaseIntervalMs) return s;
  const perSecond = s.perSecond + s.step;
  if (perSecond >= s.releaseAt) return { kind: "free", meter: s.meter };
  return { ...s, perSecond, lastChangeAt: now };
}

/** The meter with its windows moved up to the one holding `now`. */
function roll(meter: Meter, now: number, windowMs: number): Meter {
  const start = Math.floor(now / windowMs) * windowMs;
  if (start <= meter.windowStart) return meter;
  const previous = start - meter.windowStart === windowMs ? meter.current : 0;
  return { windowStart: start, current: 0, previous };
}

/** Throws a RangeError naming the first bad field. */
export function checkAdaptiveRateConfig(config: AdaptiveRateConfig): void {
  const problem = !(config.decreaseFactor > 0 && config.decreaseFactor < 1)
    ? `'decreaseFactor' must be in (0, 1): current value is ${config.decreaseFactor}`
    : !(config.increaseShare > 0 && config.increaseShare <= 1)
    ? `'increaseShare' must be in (0, 1]: current value is ${config.increaseShare}`
    : !(config.minPerSecond > 0 && Number.isFinite(config.minPerSecond))
    ? `'minPerSecond' must be > 0: current value is ${config.minPerSecond}`
    : !(config.windowMs > 0 && Number.isFinite(config.windowMs))
    ? `'windowMs' must be > 0: current value is ${config.windowMs}`
    : !(config.increaseIntervalMs >= 0)
    ? `'increaseIntervalMs' must be >= 0: current value is ${config.increaseIntervalMs}`
    : !(config.cooldownMs >= 0)
    ? `'cooldownMs' must be >= 0: current value is ${config.cooldownMs}`
    : undefined;
  if (problem) throw new RangeError(`Cannot use adaptive rate config as ${problem}`);
}

/**
 * An {@link AdaptiveBudget}'s state as saved: plain JSON, times in epoch milliseconds, null for
 * "never". `limit` is null while free.
 */
export interface SavedAdaptiveRate {
  readonly limit: {
    readonly perSecond: number;
    readonly step: number;
    readonly releaseAt: number;
    readonly lastChangeAt: number;
    readonly lastCutAt: number;
  } | null;
  readonly meter: {
    readonly windowStart: number | null;
    readonly current: number;
    readonly previous: number;
  };
  readonly tat: number | null;
  readonly lastTakeAt: number | null;
}

/** What {@link AdaptiveBudget} wraps: the configured rates (a RateBudget). */
export interface ConfiguredBudget {
  tryTake(now: number, n?: number): TakeResult;
  available(now: number, options?: AvailableOptions): number;
  /** When one cell could be taken (optional: without it, `now` when available, else unknown). */
  whenAvailable?(now: number): number;
}

/** Floating-point slack, as in rate_budget.ts: no spurious 1 ms waits on non-integer spacings. */
const EPSILON = 1e-6;

/**
 * The domain actor's message budget: the configured rates, and under them the adaptive limit
 * while the receiver throttles. Takes from the configured rates only when the adaptive limit
 * allows too, so a refused take costs nothing.
 */
export class AdaptiveBudget {
  #state: AdaptiveRateState = initialAdaptiveRate();
  /** GCRA's theoretical arrival time of the next cell under the adaptive limit. */
  #tat = -Infinity;
  /** When the last cell was taken: a cut spaces the next one from it. */
  #lastTakeAt = -Infinity;

  constructor(
    readonly configured: ConfiguredBudget,
    readonly config: AdaptiveRateConfig = DEFAULT_ADAPTIVE_RATE_CONFIG,
  ) {
    checkAdaptiveRateConfig(config);
  }

  get state(): AdaptiveRateState {
    return this.#state;
  }

  /** The adaptive limit in force (messages per second), or undefined while free. */
  get limit(): number | undefined {
    return limitPerSecond(this.#state);
  }

  tryTake(now: number, n = 1): TakeResult {
    const interval = this.#interval();
    if (interval !== undefined && this.#tat > now + EPSILON) {
      return { ok: false, retryAt: Math.ceil(this.#tat - EPSILON) };
    }
    const r = this.configured.tryTake(now, n);
    if (!r.ok) return r;
    if (interval !== undefined) this.#tat = Math.max(this.#tat, now) + n * interval;
    this.#lastTakeAt = now;
    this.#state = transition(this.#state, { kind: "taken", n }, now, this.config);
    return r;
  }

  /** When the next message may go under both the configured rates and the adaptive limit. */
  nextFreeAt(now: number): number {
    const configured = this.configured.whenAvailable?.(now) ?? now;
    const interval = this.#interval();
    const adaptive = interval !== undefined && this.#tat > now + EPSILON
      ? Math.ceil(this.#tat - EPSILON)
      : now;
    return Math.max(configured, adaptive);
  }

  available(now: number, options: AvailableOptions = {}): number {
    const configured = this.configured.available(now, options);
    const interval = this.#interval();
    if (interval === undefined) return configured;
    const first = Math.max(now, this.#tat);
    const horizon = now + (options.withinMs ?? 0);
    if (first > horizon + EPSILON) return 0;
    const adaptive = 1 + Math.floor((horizon - first + EPSILON) / interval);
    return Math.min(configured, adaptive);
  }

  /** The receiver asked to slow down: cut (outside the cooldown). */
  slowDown(now: number): void {
    this.#state = transition(this.#state, { kind: "slow_down" }, now, this.config);
    // The next cell keeps the new spacing from the last one sent, not from the cut.
    const interval = this.#interval();
    if (interval !== undefined) this.#tat = Math.max(this.#tat, this.#lastTakeAt + interval);
  }

  /** A transaction was accepted: recover by a step, at most once per interval. */
  success(now: number): void {
    this.#state = transition(this.#state, { kind: "success" }, now, this.config);
    if (this.#state.kind === "free") this.#tat = -Infinity;
  }

  /** The adaptive part of the budget (not the configured rates: those save themselves). */
  save(): SavedAdaptiveRate {
    const s = this.#state;
    return {
      limit: s.kind === "limited"
        ? {
          perSecond: s.perSecond,
          step: s.step,
          releaseAt: s.releaseAt,
          lastChangeAt: s.lastChangeAt,
          lastCutAt: s.lastCutAt,
        }
        : null,
      meter: {
        windowStart: finiteOrNull(s.meter.windowStart),
        current: s.meter.current,
        previous: s.meter.previous,
      },
      tat: finiteOrNull(this.#tat),
      lastTakeAt: finiteOrNull(this.#lastTakeAt),
    };
  }

  /**
   * Continues from a {@link save}d state: the limit in force, its recovery and the spacing of
   * the next cell go on as if nothing had stopped. Time that passed in between counts as time
   * without successes: the limit recovers with the next accepted transactions, a step per
   * `increaseIntervalMs`, as it would have in memory. A next-cell time further ahead than one
   * spacing (a clock that ran ahead where it was saved) is brought back to that bound.
   */
  restore(saved: SavedAdaptiveRate, now: number): void {
    const meter = {
      windowStart: saved.meter.windowStart ?? -Infinity,
      current: saved.meter.current,
      previous: saved.meter.previous,
    };
    const l = saved.limit;
    this.#state = l === null ? { kind: "free", meter } : {
      kind: "limited",
      meter,
      perSecond: Math.max(this.config.minPerSecond, l.perSecond),
      step: l.step,
      releaseAt: l.releaseAt,
      lastChangeAt: l.lastChangeAt,
      lastCutAt: l.lastCutAt,
    };
    const interval = this.#interval();
    this.#tat = interval === undefined || saved.tat === null
      ? -Infinity
      : Math.min(saved.tat, now + interval);
    this.#lastTakeAt = saved.lastTakeAt ?? -Infinity;
  }

  #interval(): number | undefined {
    const perSecond = limitPerSecond(this.#state);
    return perSecond === undefined ? undefined : 1000 / perSecond;
  }
}

function finiteOrNull(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}
