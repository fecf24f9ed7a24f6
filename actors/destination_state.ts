/**
 * A destination's limits as one record that outlives its actor: the GCRA state of every
 * configured rate (messages and connections), the adaptive message rate and the adaptive
 * concurrency. The supervisor saves it while the actor runs and when it stops, and the next actor
 * of the destination (after a restart, or on another instance once the lease moved) starts from
 * it, so a `"50000/d"` budget or a limit a receiver taught us is not reset by either.
 *
 * The record is plain JSON (the store keeps it as it is): times are epoch milliseconds on the
 * relay's clock, null for "never". {@link parseDestinationState} checks a stored record before
 * it is trusted; one written in another format is dropped, and the actor starts fresh.
 *
 * @module
 */
import type { AdaptiveBudget, SavedAdaptiveRate } from "./adaptive_rate.ts";
import type { Aimd, SavedAimd } from "./aimd.ts";
import type { RateBudget, SavedRate } from "./rate_budget.ts";

/** The format of {@link DestinationState}; a stored record of another version is not used. */
export const DESTINATION_STATE_VERSION = 1;

export interface DestinationState {
  readonly version: typeof DESTINATION_STATE_VERSION;
  /** The configured message rates. */
  readonly rates: readonly SavedRate[];
  /** The configured connection rate (empty without one). */
  readonly connectionRates: readonly SavedRate[];
  readonly adaptiveRate: SavedAdaptiveRate;
  readonly concurrency: SavedAimd;
}

/** The holders an actor's limits live in (built by actors/create_actor.ts). */
export interface DestinationLimits {
  readonly rates: RateBudget;
  readonly adaptive: AdaptiveBudget;
  readonly connections?: RateBudget;
  readonly concurrency: Aimd;
}

export function saveLimits(limits: DestinationLimits): DestinationState {
  return {
    version: DESTINATION_STATE_VERSION,
    rates: limits.rates.save(),
    connectionRates: limits.connections?.save() ?? [],
    adaptiveRate: limits.adaptive.save(),
    concurrency: limits.concurrency.save(),
  };
}

/** Continues from `state` (see each holder's `restore` for what time in between does). */
export function restoreLimits(
  limits: DestinationLimits,
  state: DestinationState,
  now: number,
): void {
  limits.rates.restore(state.rates, now);
  limits.connections?.restore(state.connectionRates, now);
  limits.adaptive.restore(state.adaptiveRate, now);
  limits.concurrency.restore(state.concurrency);
}

/**
 * A stored record as a {@link DestinationState}, or undefined when it is not one (another
 * version, or edited by hand into something else): starting fresh is safe, misreading is not.
 */
export function parseDestinationState(json: unknown): DestinationState | undefined {
  if (!isObject(json) || json.version !== DESTINATION_STATE_VERSION) return undefined;
  const rates = rateList(json.rates);
  const connectionRates = rateList(json.connectionRates);
  const adaptiveRate = adaptive(json.adaptiveRate);
  const concurrency = aimd(json.concurrency);
  if (!rates || !connectionRates || !adaptiveRate || !concurrency) return undefined;
  return { version: DESTINATION_STATE_VERSION, rates, connectionRates, adaptiveRate, concurrency };
}

type Json = Record<string, unknown>;

function isObject(x: unknown): x is Json {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

const finite = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
const finiteOrNull = (x: unknown): x is number | null => x === null || finite(x);
const count = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0;

function rateList(x: unknown): SavedRate[] | undefined {
  if (!Array.isArray(x)) return undefined;
  const out: SavedRate[] = [];
  for (const r of x) {
    if (!isObject(r) || !finite(r.count) || !finite(r.perMs) || !finiteOrNull(r.tat)) {
      return undefined;
    }
    out.push({ count: r.count, perMs: r.perMs, tat: r.tat });
  }
  return out;
}

function adaptive(x: unknown): SavedAdaptiveRate | undefined {
  if (!isObject(x) || !isObject(x.meter) || !finiteOrNull(x.tat)) return undefined;
  if (!finiteOrNull(x.lastTakeAt)) return undefined;
  const m = x.meter;
  if (!finiteOrNull(m.windowStart) || !finite(m.current) || !finite(m.previous)) return undefined;
  const meter = { windowStart: m.windowStart, current: m.current, previous: m.previous };
  const base = { meter, tat: x.tat, lastTakeAt: x.lastTakeAt };
  if (x.limit === null) return { ...base, limit: null };
  const l = x.limit;
  if (!isObject(l)) return undefined;
  const { perSecond, step, releaseAt, lastChangeAt, lastCutAt } = l;
  if (!(finite(perSecond) && perSecond > 0) || !finite(step) || !finite(releaseAt)) {
    return undefined;
  }
  if (!finite(lastChangeAt) || !finite(lastCutAt)) return undefined;
  return { ...base, limit: { perSecond, step, releaseAt, lastChangeAt, lastCutAt } };
}

function aimd(x: unknown): SavedAimd | undefined {
  if (!isObject(x) || !count(x.strikes)) return undefined;
  switch (x.kind) {
    case "probing":
      return { kind: "probing", strikes: x.strikes };
    case "unreachable":
      return finite(x.until)
        ? { kind: "unreachable", until: x.until, strikes: x.strikes }
        : undefined;
    case "open": {
      const { limit, successes, failures, lastChangeAt, lastCutAt } = x;
      if (!(count(limit) && limit >= 1) || !count(successes) || !count(failures)) return undefined;
      if (!finiteOrNull(lastChangeAt) || !finiteOrNull(lastCutAt)) return undefined;
      return {
        kind: "open",
        limit,
        successes,
        failures,
        strikes: x.strikes,
        lastChangeAt,
        lastCutAt,
      };
    }
    default:
      return undefined;
  }
}
