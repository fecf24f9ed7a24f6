/**
 * What the actors show operators (admin API, dashboard, alerts): plain readonly records, apart
 * from the classes that produce them, so a reader in relay/ can type what it reads without
 * depending on the actors' machinery.
 *
 * @module
 */

/** One domain actor's live state (`DomainActor.snapshot(now)`). */
export interface DomainActorSnapshot {
  /** The actor's key: a domain, or an MX group's key. */
  readonly domain: string;
  /** Deliveries waiting in the actor, not yet started. */
  readonly queued: number;
  /** Recipients in a transaction on the wire. */
  readonly inFlight: number;
  /** Connections open or opening. */
  readonly connections: number;
  /** Most connections allowed now (adaptive). */
  readonly connectionLimit: number;
  /** Messages the rate budget lets through right now. */
  readonly budgetAvailable: number;
  /** Until when the destination counts as unreachable; null when reachable. */
  readonly unreachableUntil: number | null;
  /** Until when an operator suspended it; null when not suspended. */
  readonly suspendedUntil: number | null;
  readonly suspendReason: string | null;
  /** The last reply heard from the destination (or the reason nothing was heard). */
  readonly lastReply: string | null;
  /** The configured message rates (as written: no margin), and the current limits under them. */
  readonly limits?: LimitsSnapshot;
  /** No transaction starts before this: the receiver asked to slow down; null when not paused. */
  readonly pausedUntil?: number | null;
  /** The last throttling reply ("slow down") and when it came; null when none was heard. */
  readonly lastThrottle?: { readonly reply: string; readonly at: number } | null;
}

/** A destination's rate budget and concurrency as they stand (`DomainActorSnapshot.limits`). */
export interface LimitsSnapshot {
  readonly rates: readonly {
    readonly count: number;
    readonly perMs: number;
    readonly burst: number;
  }[];
  /** The rate the receiver's throttling left (messages per second); null while not adapted. */
  readonly adaptivePerSecond: number | null;
  /** When the budget lets the next message go (`now` when it may go now). */
  readonly nextFreeAt: number;
  /** Most connections the destination may ever have (the configured maximum). */
  readonly maxConnections: number;
}

/**
 * One running actor as `Supervisor.describe(now)` lists it. A domain actor reports every field
 * of its snapshot, but stand-ins for the supervisor (tests, adapters) report fewer, so readers
 * take each field as optional; an actor without snapshot() has no state at all.
 */
export interface ActorDescription {
  readonly key: string;
  /** The member domains it serves (several under MX rollup). */
  readonly domains: readonly string[];
  readonly state: Partial<DomainActorSnapshot> | undefined;
}

/** The supervisor's own state (`Supervisor.snapshot()`). */
export interface SupervisorSnapshot {
  readonly actors: number;
  readonly domains: readonly string[];
  readonly crashed: readonly { domain: string; crashes: number; restartAt: number }[];
}

/** A sender's state as the admin API shows it. */
export interface SenderSnapshot {
  readonly key: string;
  readonly rates: readonly { count: number; perMs: number; burst: number }[];
  readonly maxConnections: number | null;
  /** Transactions of this sender in flight in this instance. */
  readonly inFlight: number;
  /** Cells this instance holds and could spend right now. */
  readonly available: number;
  /** When the next cell may go (`now` when it may go now); null when it waits for a range. */
  readonly nextFreeAt: number | null;
  /** Times an actor asked and had to wait, since start. */
  readonly waits: number;
}
