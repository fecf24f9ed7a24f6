/**
 * What the actors need from the outside world, declared by the consumer as the smallest subset
 * it uses (Kysely's habit). actors/ imports nothing from relay/ or db/: relay/main.ts plugs the
 * real implementations in (SMTP, PostgreSQL), tests plug fakes.
 *
 * Times are milliseconds since the epoch throughout.
 *
 * @module
 */

/** Wall-clock time and cancellable waiting (structurally the same as relay/clock.ts). */
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
  readonly smtputf8: boolean;
  readonly leaseToken: number;
  /** When the lease on this claim ends: it must not be sent after that. */
  readonly leaseExpiresAt: number;
}

/** Where a failure applies: this recipient, this message, or the whole connection/host. */
export type FailureScope = "recipient" | "message" | "connection";

/** The outcome of one recipient of one SMTP attempt, as the Deliverer classifies it. */
export type RecipientResult =
  | { readonly kind: "delivered"; readonly code: number; readonly reply: string }
  | {
    readonly kind: "transient";
    readonly scope: FailureScope;
    readonly code: number | null;
    readonly enhanced?: string;
    readonly reply: string;
    /** A "try again in N minutes" hint from the server. */
    readonly retryAfterMs?: number;
    /** Ferry decided this itself; no receiver said it (recorded without an MX host). */
    readonly local?: boolean;
  }
  | {
    readonly kind: "permanent";
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
export interface Session {
  readonly mxHost: string;
  readonly tls: boolean;
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
  /** No MX host could be reached (transient) or the domain cannot receive mail (permanent). */
  | { readonly kind: "failed"; readonly result: FailureResult; readonly mxHost?: string };

/** Opens SMTP sessions to a destination (MX lookup, routes, TLS policy are behind it). */
export interface Deliverer {
  connect(destination: string, signal: AbortSignal): Promise<ConnectResult>;
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
  /** Claims up to `limit` due deliveries of a destination this instance holds. */
  claim(domain: string, limit: number, now: number): Promise<Delivery[]>;
  /** `claim` for many destinations at once (one round trip). */
  claimMany(
    requests: readonly { domain: string; limit: number }[],
    now: number,
  ): Promise<Delivery[]>;
  /** Writes outcomes; returns the ids refused (lease lost). */
  record(outcomes: readonly OutcomeRecord[], now: number): Promise<{ refused: number[] }>;
  /** Hands claims back unattempted, due again at `at`. */
  release(deliveries: readonly Delivery[], at: number, now: number): Promise<void>;
}

/** Structured log events, emitted as JSON lines by relay/main.ts. */
export type LogEvent =
  | { readonly event: "relay.started"; readonly instance: string; readonly backend: string }
  | { readonly event: "relay.stopping"; readonly reason: string }
  | { readonly event: "relay.stopped" }
  | {
    readonly event: "ingest.batch";
    readonly rows: number;
    readonly queued: number;
    readonly rejected: number;
    readonly suppressed: number;
  }
  | { readonly event: "lease.reaped"; readonly deliveries: number }
  | {
    readonly event: "retention.purged";
    readonly deliveries: number;
    readonly events: number;
    readonly outbox: number;
  }
  | { readonly event: "loop.failed"; readonly loop: string; readonly error: string }
  /** The database stopped answering (logged once per outage) and answered again. */
  | { readonly event: "database.down"; readonly error: string }
  | { readonly event: "database.up"; readonly downMs: number; readonly probes: number }
  /** Outcomes not written (database away past the bound, or at shutdown): re-sent after lease. */
  | { readonly event: "outcome.given_up"; readonly count: number; readonly reason: string }
  /** At start, the deliveries this instance held before it stopped uncleanly came back. */
  | { readonly event: "lease.reclaimed"; readonly instance: string; readonly deliveries: number }
  /** A promise rejection nobody handled: logged, then the process stops in order. */
  | { readonly event: "process.unhandled"; readonly error: string }
  /** Bounce mailbox: one message committed, with what its report said. */
  | {
    readonly event: "bounce.message_recorded";
    readonly mailbox: string;
    readonly uidl: string;
    /** Outcome kinds in the message: `bounce`, `complaint`, `unrecognised`. */
    readonly outcomes: readonly string[];
    readonly matched: number;
    readonly unmatched: number;
  }
  /** Committed by an earlier poll that did not get to DELE it: deleted, not counted again. */
  | {
    readonly event: "bounce.message_already_processed";
    readonly mailbox: string;
    readonly uidl: string;
  }
  /** The server refused RETR, TOP or DELE: the message stays for the next poll. */
  | {
    readonly event: "bounce.message_refused";
    readonly mailbox: string;
    readonly uidl: string;
    readonly command: string;
    readonly text: string;
  }
  /** A poll that found messages; polls of an empty mailbox are not logged. */
  | {
    readonly event: "bounce.poll_completed";
    readonly mailbox: string;
    readonly counts: Readonly<Record<string, number>>;
  }
  /** A poll that stopped early; what it committed stays committed, the rest waits. */
  | {
    readonly event: "bounce.poll_failed";
    readonly mailbox: string;
    readonly stage: string;
    readonly reason: string;
    readonly counts: Readonly<Record<string, number>>;
  }
  /** Shutdown cut a poll short, without QUIT: the server deleted nothing. */
  | { readonly event: "bounce.poll_aborted"; readonly mailbox: string; readonly stage: string }
  /** Retention removed processed-message markers (and kept unmatched bounces) this old. */
  | { readonly event: "bounce.purged"; readonly messages: number; readonly complete: boolean }
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
  | {
    readonly event: "delivery.outcome";
    readonly id: number;
    readonly domain: string;
    readonly status: string;
    readonly code: number | null;
  }
  | { readonly event: "outcome.refused"; readonly ids: readonly number[] }
  /** A webhook POST that failed (relay/webhooks); `url` without credentials or query. */
  | {
    readonly event: "webhook.attempted";
    readonly id: number;
    readonly url: string;
    readonly attempt: number;
    readonly outcome: "delivered" | "failed";
    readonly status: number | null;
    readonly error?: string;
  }
  /** A dispatcher pass that did something (idle passes are not logged). */
  | { readonly event: "webhook.pass"; readonly fannedOut: number; readonly attempted: number }
  | { readonly event: "webhook.loop_failed"; readonly error: string }
  /** An alert rule started (`alert.raised`) or stopped (`alert.resolved`) firing. */
  | {
    readonly event: "alert.raised" | "alert.resolved";
    readonly alert: string;
    readonly domain: string | null;
    readonly value: number;
    readonly threshold: number;
    readonly message: string;
    /** When it was first raised (ms). */
    readonly since: number;
  };

/**
 * Whether the store (the database behind the Queue) answers. While it does not, loops skip their
 * work rather than each retrying and logging on its own; `failed` says whether an error was the
 * store being away (the caller stays quiet) or something to report.
 */
export interface StoreHealth {
  readonly up: boolean;
  failed(err: unknown): boolean;
}

export interface Logger {
  log(event: LogEvent): void;
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
