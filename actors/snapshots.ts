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
