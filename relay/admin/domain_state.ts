/**
 * What the admin API needs from the running actors, declared here by the consumer as the
 * smallest port it uses. The composition root implements it over the supervisor; without it, the API shows
 * what the database knows and no live state.
 *
 * @module
 */

/** One destination's live state, as its actor sees it. */
export interface LiveDomainState {
  readonly domain: string;
  /** The actor's state in a word: `idle`, `sending`, `backoff`, `suspended`, `unreachable`... */
  readonly state: string;
  /** Deliveries the actor holds (claimed, in its mailbox or on the wire). */
  readonly inFlight: number;
  /** Open SMTP connections to the destination. */
  readonly connections: number;
  /** Most connections the actor may open now (adaptive). */
  readonly connectionLimit?: number | null;
  /** Most connections the destination may ever have (configured). */
  readonly connectionMax?: number | null;
  /**
   * The rate budget: tokens left (of `capacity`, refilled at `rate`, e.g. `"100/m"`), the rate a
   * throttling receiver left (messages per second, null while not adapted), and when the next
   * message may go.
   */
  readonly rateBudget?: {
    readonly available: number;
    readonly capacity?: number | null;
    readonly rate?: string | null;
    readonly adaptivePerSecond?: number | null;
    readonly nextFreeAt?: Date | null;
  } | null;
  /** The receiver asked to slow down: no transaction starts before this; null when not paused. */
  readonly pausedUntil?: Date | null;
  /** The last throttling reply and when it came; null when none was heard. */
  readonly lastThrottle?: { readonly text: string; readonly at: Date } | null;
  /** The actor serving this domain, when several domains share one (MX rollup). */
  readonly actor?: string | null;
  /** No new attempt before this time (backoff after failures). */
  readonly backoffUntil?: Date | null;
  /** Since when every MX host has been failing at the connection level; null when reachable. */
  readonly unreachableSince?: Date | null;
  readonly lastReply?: {
    readonly code: number | null;
    readonly text: string;
    readonly at?: Date | null;
  } | null;
}

/** The port: the live state of every destination, or of one (`domain` given). */
export interface DomainStateProvider {
  domainState(
    domain?: string,
  ): readonly LiveDomainState[] | Promise<readonly LiveDomainState[]>;
}

/**
 * Calls the running relay makes when an operator acts, so the live actors react at once
 * instead of at their next database poll. Every hook is optional.
 */
export interface AdminHooks {
  /** Outbox rows were inserted over HTTP: poll the outbox now. */
  wake?(): void;
  /** Deferred deliveries (of one domain, or all) were made due now. */
  flushed?(domain?: string): void;
  suspended?(domain: string, until: Date, reason: string): void;
  resumed?(domain: string): void;
}

/** The JSON form of a live state (the API speaks snake_case). */
export function liveStateJson(s: LiveDomainState): Record<string, unknown> {
  return {
    state: s.state,
    in_flight: s.inFlight,
    connections: s.connections,
    connection_limit: s.connectionLimit ?? null,
    connection_max: s.connectionMax ?? null,
    rate_budget: s.rateBudget
      ? {
        available: s.rateBudget.available,
        capacity: s.rateBudget.capacity ?? null,
        rate: s.rateBudget.rate ?? null,
        adaptive_per_second: s.rateBudget.adaptivePerSecond ?? null,
        next_free_at: s.rateBudget.nextFreeAt ?? null,
      }
      : null,
    paused_until: s.pausedUntil ?? null,
    last_throttle: s.lastThrottle ? { text: s.lastThrottle.text, at: s.lastThrottle.at } : null,
    actor: s.actor ?? null,
    backoff_until: s.backoffUntil ?? null,
    unreachable_since: s.unreachableSince ?? null,
    last_reply: s.lastReply
      ? { code: s.lastReply.code, text: s.lastReply.text, at: s.lastReply.at ?? null }
      : null,
  };
}
