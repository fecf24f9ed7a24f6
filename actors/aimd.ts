/**
 * Adaptive concurrency for one destination: how many connections it may have open right now.
 * TCP's AIMD (RFC 5681 §3.1, in spirit): start low, add one connection after a run of
 * successful transactions, halve on a sign of overload (421, a failed connection, a throttling
 * reply). The asymmetry is the point: a receiver that pushes back gets relief at once, and
 * regains our traffic only step by step, never with a snap back to the maximum.
 *
 * - Growth is paced twice: `successesPerStep` successes *and* `increaseIntervalMs` since the
 *   last change, so a fast burst of deliveries on many connections cannot ramp up in a blink.
 * - A cut starts a `cooldownMs` during which further overload signals do not cut again: eight
 *   connections refused by one overloaded host are one event, not eight halvings.
 * - After `unreachableAfter` consecutive failures to connect at all, the destination is
 *   *unreachable* until a deadline (limit 0: its queue waits instead of hammering it); the
 *   period doubles on each repeat up to `unreachableMaxMs`. When it ends, one probe connection
 *   is allowed; its failure re-marks the destination at once, its success reopens it at 1.
 *
 * A discriminated union of readonly records and a pure {@link transition}; {@link Aimd} is a
 * small mutable holder for the actor, whose state can be saved and restored ({@link Aimd.save}):
 * a limit cut by an overloaded receiver, or an unreachable mark, outlives a restart or a move of
 * the destination to another instance.
 *
 * @module
 */

export interface AimdConfig {
  /** Connections allowed at first (clamped to `max`). */
  readonly initial: number;
  /** The per-domain policy's ceiling. */
  readonly max: number;
  /** Successful transactions needed for one more connection. */
  readonly successesPerStep: number;
  /** The shortest time between two changes of the limit upwards, or a cut and an increase. */
  readonly increaseIntervalMs: number;
  /** Multiplier on a cut, in (0, 1); the result is floored, never below 1. */
  readonly decreaseFactor: number;
  /** After a cut, overload signals within this time do not cut again. */
  readonly cooldownMs: number;
  /** Consecutive connection failures that make the destination unreachable. */
  readonly unreachableAfter: number;
  /** The first unreachable period; doubles on each repeat. */
  readonly unreachableMs: number;
  readonly unreachableMaxMs: number;
}

export const DEFAULT_AIMD_CONFIG: AimdConfig = {
  initial: 2,
  max: 10,
  successesPerStep: 10,
  increaseIntervalMs: 1_000,
  decreaseFactor: 0.5,
  cooldownMs: 5_000,
  unreachableAfter: 5,
  unreachableMs: 60_000,
  unreachableMaxMs: 30 * 60_000,
};

export type AimdState =
  | {
    readonly kind: "open";
    readonly limit: number;
    /** Successes since the last change of the limit (capped at `successesPerStep`). */
    readonly successes: number;
    /** Consecutive connection failures. */
    readonly failures: number;
    /** Unreachable periods in a row without a successful transaction since. */
    readonly strikes: number;
    readonly lastChangeAt: number;
    readonly lastCutAt: number;
  }
  | { readonly kind: "unreachable"; readonly until: number; readonly strikes: number }
  /** An unreachable period ended: one connection may try. */
  | { readonly kind: "probing"; readonly strikes: number };

export type AimdEvent =
  /** A transaction was accepted (2xx at the end of data). */
  | { readonly kind: "success" }
  /** A connection reached a peer (greeting received): the destination is reachable. */
  | { readonly kind: "connected" }
  /** 421, or a reply that asks to slow down: the peer is overloaded or throttling us. */
  | { readonly kind: "throttled" }
  /** A connection could not be made (refused, timed out, no MX host answered). */
  | { readonly kind: "connect_failed" };

export function initialAimdState(config: AimdConfig): AimdState {
  return open(Math.min(config.initial, config.max), 0, -Infinity);
}

/** The connection limit in force at `now`: 0 while unreachable, 1 while probing. */
export function limitOf(state: AimdState, now: number): number {
  switch (state.kind) {
    case "open":
      return state.limit;
    case "probing":
      return 1;
    case "unreachable":
      return now < state.until ? 0 : 1;
  }
}

/** Applies the passage of time: an unreachable period that is over becomes a probe. */
export function settle(state: AimdState, now: number): AimdState {
  return state.kind === "unreachable" && now >= state.until
    ? { kind: "probing", strikes: state.strikes }
    : state;
}

export function transition(
  state: AimdState,
  event: AimdEvent,
  now: number,
  config: AimdConfig,
): AimdState {
  const s = settle(state, now);
  switch (s.kind) {
    case "open":
      return fromOpen(s, event, now, config);
    case "probing":
      if (event.kind === "connect_failed") return unreachable(s.strikes + 1, now, config);
      // The probe got through: reopen at the floor and earn the rest back.
      return open(1, event.kind === "success" ? 0 : s.strikes, now);
    case "unreachable":
      // A late success from before the mark proves the destination reachable after all.
      return event.kind === "success" ? open(1, 0, now) : s;
  }
}

type Open = Extract<AimdState, { kind: "open" }>;

function fromOpen(s: Open, event: AimdEvent, now: number, config: AimdConfig): AimdState {
  const limit = Math.min(s.limit, config.max);
  switch (event.kind) {
    case "success": {
      const successes = Math.min(s.successes + 1, config.successesPerStep);
      const grow = successes >= config.successesPerStep && limit < config.max &&
        now - s.lastChangeAt >= config.increaseIntervalMs;
      return grow
        ? { ...s, limit: limit + 1, successes: 0, failures: 0, strikes: 0, lastChangeAt: now }
        : { ...s, limit, successes, failures: 0, strikes: 0 };
    }
    case "connected":
      return { ...s, limit, failures: 0 };
    case "throttled":
      return cut({ ...s, limit, failures: 0 }, now, config);
    case "connect_failed": {
      const failures = s.failures + 1;
      if (failures >= config.unreachableAfter) return unreachable(s.strikes + 1, now, config);
      return cut({ ...s, limit, failures }, now, config);
    }
  }
}

function cut(s: Open, now: number, config: AimdConfig): Open {
  if (now - s.lastCutAt < config.cooldownMs) return s;
  const limit = Math.max(1, Math.floor(s.limit * config.decreaseFactor));
  return { ...s, limit, successes: 0, lastChangeAt: now, lastCutAt: now };
}

function open(limit: number, strikes: number, now: number): Open {
  return {
    kind: "open",
    limit,
    successes: 0,
    failures: 0,
    strikes,
    lastChangeAt: now,
    lastCutAt: -Infinity,
  };
}

function unreachable(strikes: number, now: number, config: AimdConfig): AimdState {
  const period = Math.min(
    config.unreachableMaxMs,
    config.unreachableMs * 2 ** Math.min(strikes - 1, 40),
  );
  return { kind: "unreachable", until: now + period, strikes };
}

/** The admin API's view. */
export interface AimdSnapshot {
  readonly state: AimdState["kind"];
  readonly limit: number;
  readonly max: number;
  readonly failures: number;
  readonly strikes: number;
  /** Set while unreachable. */
  readonly unreachableUntil: number | null;
}

export function aimdSnapshot(state: AimdState, now: number, config: AimdConfig): AimdSnapshot {
  const s = settle(state, now);
  return {
    state: s.kind,
    limit: limitOf(s, now),
    max: config.max,
    failures: s.kind === "open" ? s.failures : 0,
    strikes: s.strikes,
    unreachableUntil: s.kind === "unreachable" ? s.until : null,
  };
}

/** Throws a RangeError naming the first bad field. */
export function checkAimdConfig(config: AimdConfig): void {
  const intAtLeast1 = ["initial", "max", "successesPerStep", "unreachableAfter"] as const;
  for (const key of intAtLeast1) {
    const v = config[key];
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(
        `Cannot use AIMD config as '${key}' must be an integer >= 1: current value is ${v}`,
      );
    }
  }
  if (!(config.decreaseFactor > 0 && config.decreaseFactor < 1)) {
    throw new RangeError(
      `Cannot use AIMD config as 'decreaseFactor' must be in (0, 1): current value is ${config.decreaseFactor}`,
    );
  }
  const nonNegative = ["increaseIntervalMs", "cooldownMs", "unreachableMs"] as const;
  for (const key of nonNegative) {
    if (!(config[key] >= 0)) {
      throw new RangeError(
        `Cannot use AIMD config as '${key}' must be >= 0: current value is ${config[key]}`,
      );
    }
  }
  if (!(config.unreachableMaxMs >= config.unreachableMs)) {
    throw new RangeError(
      `Cannot use AIMD config as 'unreachableMaxMs' must be >= 'unreachableMs': current values are ${config.unreachableMaxMs} and ${config.unreachableMs}`,
    );
  }
}

/**
 * An {@link AimdState} as saved: plain JSON, so the times that start as "never" (-Infinity) are
 * null.
 */
export type SavedAimd =
  | {
    readonly kind: "open";
    readonly limit: number;
    readonly successes: number;
    readonly failures: number;
    readonly strikes: number;
    readonly lastChangeAt: number | null;
    readonly lastCutAt: number | null;
  }
  | { readonly kind: "unreachable"; readonly until: number; readonly strikes: number }
  | { readonly kind: "probing"; readonly strikes: number };

/** A mutable holder of an {@link AimdState} for the domain actor. */
export class Aimd {
  #state: AimdState;

  constructor(readonly config: AimdConfig) {
    checkAimdConfig(config);
    this.#state = initialAimdState(config);
  }

  get state(): AimdState {
    return this.#state;
  }

  /** Feeds an event; returns the limit in force afterwards. */
  record(event: AimdEvent, now: number): number {
    this.#state = transition(this.#state, event, now, this.config);
    return limitOf(this.#state, now);
  }

  limit(now: number): number {
    return limitOf(this.#state, now);
  }

  /** The end of the unreachable period in force at `now`, if any. */
  unreachableUntil(now: number): number | undefined {
    const s = this.#state;
    return s.kind === "unreachable" && now < s.until ? s.until : undefined;
  }

  // One method per event, the shape of domain_actor.ts's `Concurrency` port.
  success(now: number): void {
    this.record({ kind: "success" }, now);
  }

  connected(now: number): void {
    this.record({ kind: "connected" }, now);
  }

  throttled(now: number): void {
    this.record({ kind: "throttled" }, now);
  }

  connectFailed(now: number): void {
    this.record({ kind: "connect_failed" }, now);
  }

  snapshot(now: number): AimdSnapshot {
    return aimdSnapshot(this.#state, now, this.config);
  }

  save(): SavedAimd {
    const s = this.#state;
    if (s.kind !== "open") return s;
    return {
      ...s,
      lastChangeAt: Number.isFinite(s.lastChangeAt) ? s.lastChangeAt : null,
      lastCutAt: Number.isFinite(s.lastCutAt) ? s.lastCutAt : null,
    };
  }

  /**
   * Continues from a {@link save}d state, under this holder's config: a limit above the
   * configured `max` (the policy changed since) comes down to it. Time that passed in between
   * needs no care: an unreachable period that ended meanwhile is a probe at the next event, and
   * a cooldown or increase interval measured from a saved time has simply run out.
   */
  restore(saved: SavedAimd): void {
    this.#state = saved.kind !== "open" ? saved : {
      ...saved,
      limit: Math.max(1, Math.min(saved.limit, this.config.max)),
      lastChangeAt: saved.lastChangeAt ?? -Infinity,
      lastCutAt: saved.lastCutAt ?? -Infinity,
    };
  }
}
