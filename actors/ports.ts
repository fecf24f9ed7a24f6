/**
 * What the actors need from the outside world, declared by the consumer as the smallest subset
 * it uses (Kysely's habit). actors/ imports nothing outside actors/: relay/adapters implements them
 * over SMTP and PostgreSQL, relay/composition plugs them in, tests plug fakes.
 *
 * Times are milliseconds since the epoch throughout.
 *
 * @module
 */
import type { DestinationState } from "./destination_state.ts";

export type { DestinationState } from "./destination_state.ts";

/** Wall-clock time and cancellable waiting (structurally the same as lib/clock.ts). */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/** A delivery handed to an actor, under a lease. */
export interface Delivery {
  readonly id: number;
  readonly outboxId: number;
  readonly recipient: string;
  readonly domain: string;
  readonly priority: number;
  readonly attempts: number;
  readonly expiresAt: number;
  /** When it was queued (optional: fakes may omit it); the fallback relay's wait counts from it. */
  readonly queuedAt?: number;
  readonly smtputf8: boolean;
  /**
   * The sender limit that applies to its message (`tenant:<name>` or a sender domain with a
   * `senders` entry); absent: no sender limit.
   */
  readonly sender?: string;
  readonly leaseToken: number;
  /** When the lease on this claim ends: it must not be sent after that. */
  readonly leaseExpiresAt: number;
}

/** Where a failure applies: this recipient, this message, or the whole connection/host. */
export type FailureScope = "recipient" | "message" | "connection";

/**
 * The outcome of one recipient of one SMTP attempt, as the Deliverer classifies it. `mxHost`
 * names the host that said it when that is not the session's own (a session that moved on to
 * the next MX host).
 */
export type RecipientResult =
  | {
    readonly kind: "delivered";
    readonly code: number;
    readonly reply: string;
    readonly mxHost?: string;
  }
  | {
    readonly kind: "transient";
    readonly mxHost?: string;
    readonly scope: FailureScope;
    readonly code: number | null;
    readonly enhanced?: string;
    readonly reply: string;
    /** A "try again in N minutes" hint from the server. */
    readonly retryAfterMs?: number;
    /**
     * The receiver throttles our traffic as a whole (a throttling reply: Gmail's 4.7.28,
     * Microsoft's 4.7.500-699, Yahoo's TSS04, "rate limited"...): the actor slows the whole
     * destination down and pauses it for `retryAfterMs`, or a short while.
     */
    readonly slowDown?: boolean;
    /** Ferry decided this itself; no receiver said it (recorded without an MX host). */
    readonly local?: boolean;
  }
  | {
    readonly kind: "permanent";
    readonly mxHost?: string;
    readonly scope: FailureScope;
    readonly code: number | null;
    readonly enhanced?: string;
    readonly reply: string;
    /** Ferry refused this itself; no receiver said it (recorded without an MX host). */
    readonly local?: boolean;
  };

export type FailureResult = Exclude<RecipientResult, { kind: "delivered" }>;

/**
 * Thrown by {@link Session.send} when nothing was sent because Ferry itself could not prepare the
 * message (its store did not answer): the recipients were not attempted, so the actor keeps them
 * and tries again after a pause, instead of counting an attempt and deferring them for minutes.
 */
export class NothingSentError extends Error {
  override readonly name = "NothingSentError";
}

/** An open SMTP connection to one MX host. */
/** How a session's TLS was decided and what it got; recorded with each outcome's event. */
export interface TlsDetail {
  /** The policy applied: `dane`, `mta-sts enforce`, `mta-sts testing`, `route`, or the
   * destination's own (`opportunistic`, `required`, `verified`, `disabled`). */
  readonly policy: string;
  /** Why that policy applied. */
  readonly reason: string;
  readonly tls: boolean;
  /** The certificate was authenticated (WebPKI for the MX name, or DANE). */
  readonly verified: boolean;
}

export interface Session {
  readonly mxHost: string;
  readonly tls: boolean;
  /** How TLS was decided for this session (optional: fakes may omit it). */
  readonly tlsDetail?: TlsDetail;
  /** False once the connection broke or the server said 421: open a new one. */
  readonly usable: boolean;
  /**
   * True while another connection waits for this one's slot at the receiving host: an idle
   * session then closes instead of idling on (optional: sessions without a host cap omit it).
   */
  readonly wanted?: boolean;
  /** Calls `listener` when {@link wanted} becomes true. */
  onWanted?(listener: () => void): void;
  /**
   * One transaction: the message of `outboxId` to `recipients` (all at this destination).
   * Returns one result per recipient, in order. Never throws for SMTP outcomes.
   */
  send(
    outboxId: number,
    recipients: readonly Delivery[],
    signal: AbortSignal,
  ): Promise<RecipientResult[]>;
  /** QUIT and close; never throws. */
  close(): Promise<void>;
}

export type ConnectResult =
  | { readonly kind: "connected"; readonly session: Session }
  /**
   * No MX host could be reached (transient) or the domain cannot receive mail (permanent).
   * `tlsDetail`: how TLS was decided at the host whose reply `result` is, when TLS is why it
   * failed there (a handshake or DANE authentication that failed, STARTTLS missing where TLS is
   * required, a TLSA lookup that failed), so the deferral records the decision as a session would.
   */
  | {
    readonly kind: "failed";
    readonly result: FailureResult;
    readonly mxHost?: string;
    readonly tlsDetail?: TlsDetail;
  };

/** Opens SMTP sessions to a destination (MX lookup, routes, TLS policy are behind it). */
export interface Deliverer {
  /**
   * `waitingSince`: when the oldest mail this connection is for was queued, if known; a
   * deliverer with a fallback relay uses it to decide whether mail has waited long enough on
   * unreachable MX hosts to go through the fallback instead.
   */
  connect(destination: string, signal: AbortSignal, waitingSince?: number): Promise<ConnectResult>;
}

/** What becomes of one delivery, written back to the queue. */
export interface OutcomeRecord {
  readonly delivery: Delivery;
  readonly status: "delivered" | "deferred" | "bounced" | "expired";
  readonly attempted: boolean;
  readonly code: number | null;
  readonly enhanced?: string;
  /** The reply to record; null keeps the previous one (an expiry keeps the last reply). */
  readonly reply: string | null;
  readonly mxHost?: string;
  readonly tls?: boolean;
  readonly tlsDetail?: TlsDetail;
  readonly durationMs?: number;
  readonly nextAttemptAt?: number;
  /** Add the recipient to suppressions (the server said the address does not exist). */
  readonly suppress?: boolean;
}

/** The queue as the supervisor and actors use it. */
export interface Queue {
  /** Destinations with due work, walked from `cursor`; `""` back once the walk reached the end. */
  readyDomains(
    o: { cursor: string; limit: number; now: number },
  ): Promise<{ domains: string[]; cursor: string }>;
  /** Takes leases on destinations for this instance; returns those granted. */
  acquireDomains(domains: readonly string[], now: number): Promise<string[]>;
  /** Extends this instance's destination leases; returns those still held. */
  renewDomains(domains: readonly string[], now: number): Promise<string[]>;
  releaseDomains(domains: readonly string[]): Promise<void>;
  /**
   * Claims up to `limit` due deliveries of each destination this instance holds, in one round
   * trip; destinations it does not hold give nothing.
   */
  claimMany(
    requests: readonly { domain: string; limit: number }[],
    now: number,
  ): Promise<Delivery[]>;
  /** Writes outcomes; returns the ids refused (lease lost). */
  record(outcomes: readonly OutcomeRecord[], now: number): Promise<{ refused: number[] }>;
  /** Hands claims back unattempted, due again at `at`. */
  release(deliveries: readonly Delivery[], at: number, now: number): Promise<void>;
}

/** One destination's limits to save, with the lease that entitles this instance to. */
export interface DestinationStateWrite {
  /** The destination (actor) key: a domain, or an MX group's key. */
  readonly key: string;
  /** A member domain whose lease this instance holds: the write is refused once it does not. */
  readonly domain: string;
  readonly state: DestinationState;
}

/**
 * Where destinations' limits outlive their actors, so a restart or a lease moving to another
 * instance does not reset them (relay/adapters/destination_state_store.ts over PostgreSQL).
 */
export interface DestinationStateStore {
  /** The saved states of those `keys` that have one, well-formed. */
  load(keys: readonly string[]): Promise<ReadonlyMap<string, DestinationState>>;
  /**
   * Saves a batch in one go, each only while this instance holds its `domain`'s lease (checked
   * by the store in the same write); returns the keys refused.
   */
  save(states: readonly DestinationStateWrite[], now: number): Promise<{ refused: string[] }>;
}

/**
 * The log events the actors emit (supervisor and domain actors). Every other part of the relay
 * declares its own; the composition root joins them into the relay's log (JSON lines).
 */
export type ActorLogEvent =
  | { readonly event: "actor.started"; readonly domain: string }
  | { readonly event: "actor.stopped"; readonly domain: string; readonly reason: string }
  | {
    readonly event: "actor.crashed";
    readonly domain: string;
    readonly error: string;
    readonly restartAt: number;
  }
  | { readonly event: "domain.lost"; readonly domain: string }
  | {
    readonly event: "domain.unreachable";
    readonly domain: string;
    readonly until: number;
    readonly reply: string;
  }
  /** The receiver asked to slow down: no transaction starts before `until`, and the rate is cut. */
  | {
    readonly event: "domain.slowed";
    readonly domain: string;
    readonly until: number;
    readonly reply: string;
  }
  /** Limits the store refused to save because the lease on their destination was lost. */
  | { readonly event: "state.refused"; readonly keys: readonly string[] }
  /** Outcomes the store refused to write because the lease on their destination was lost. */
  | { readonly event: "outcome.refused"; readonly ids: readonly number[] }
  /** One of the supervisor's loops (claim, renew) failed for a reason other than the store. */
  | { readonly event: "loop.failed"; readonly loop: string; readonly error: string };

/**
 * Whether the store (the database behind the Queue) answers. While it does not, loops skip their
 * work rather than each retrying and logging on its own; `failed` says whether an error was the
 * store being away (the caller stays quiet) or something to report.
 */
export interface StoreHealth {
  readonly up: boolean;
  failed(err: unknown): boolean;
}

/** Where the actors' log events go (the relay's JSON log behind it). */
export interface Logger {
  log(event: ActorLogEvent): void;
}

/**
 * Counters and gauges the actors feed (relay/metrics behind it in the relay); optional
 * everywhere, so tests and benchmarks need none.
 */
export interface ActorMetrics {
  /** One delivery reached an outcome, written (not refused). */
  recordOutcome(status: OutcomeRecord["status"]): void;
  /** One SMTP transaction, first command to final reply, took `seconds`. */
  observeAttempt(seconds: number): void;
  /** An SMTP connection opened (`+1`) or closed (`-1`). */
  connectionsChanged(delta: number): void;
  /** How many actors run now. */
  setActors(n: number): void;
}
