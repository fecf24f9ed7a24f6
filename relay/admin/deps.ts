/**
 * What the admin app is built from. Everything but the database, the token and readiness is
 * optional, so tests and a bare relay build it from three values.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import type { Db } from "../../db/client.ts";
import type { ValidationLimits } from "../../lib/message/validate.ts";
import type { Metrics } from "../metrics/mod.ts";
import type { ActiveAlert } from "../metrics/mod.ts";
import type { AdminHooks, DomainStateProvider } from "./domain_state.ts";
import type { SenderSnapshot } from "../../actors/snapshots.ts";

export type Readiness = { readonly ready: true } | {
  readonly ready: false;
  readonly reason: string;
};

export interface AdminDeps {
  readonly db: Db;
  /** The bearer token `/api/*` requires. */
  readonly token: string;
  /**
   * Whether the relay can work now (database answers, loops running, not draining): `/readyz`
   * answers 503 with the reason otherwise.
   */
  readonly ready: () => Readiness | Promise<Readiness>;
  /** Defaults to the system clock. */
  readonly clock?: Clock;
  /** Live actor state; without it, domains show what the database knows. */
  readonly domains?: DomainStateProvider;
  /** Lets the running relay react at once to operator actions. */
  readonly hooks?: AdminHooks;
  /** Served at `/metrics`; defaults to a registry with the database gauges only. */
  readonly metrics?: Metrics;
  /** The alert monitor, for `GET /api/v1/alerts` and the dashboard. */
  readonly alerts?: { active(): readonly ActiveAlert[] };
  /** The per-sender limits as they stand (undefined: none configured, or no relay yet). */
  readonly senders?: () => readonly SenderSnapshot[] | undefined;
  /** Limits `POST /api/v1/messages` checks up front (those of ingestion: config `queue`). */
  readonly limits?: ValidationLimits;
  /** Lifetime given to a bounced/expired/cancelled delivery an operator retries (default 5d). */
  readonly maxLifetimeMs?: number;
  /** How often the event stream polls `ferry.events` (default 1000 ms). */
  readonly eventPollMs?: number;
  /** One-click unsubscribe is configured: `list_unsubscribe` may be set (default false). */
  readonly listUnsubscribe?: boolean;
}

/** The deps with defaults filled in, as the route modules use them. */
export interface AdminContext {
  readonly db: Db;
  readonly clock: Clock;
  /** Deliveries the API cancels are counted here (the actors count the rest). */
  readonly metrics: Metrics;
  readonly domains?: DomainStateProvider;
  readonly hooks: AdminHooks;
  readonly alerts?: { active(): readonly ActiveAlert[] };
  readonly senders?: () => readonly SenderSnapshot[] | undefined;
  readonly limits: ValidationLimits;
  readonly maxLifetimeMs: number;
  readonly eventPollMs: number;
  readonly listUnsubscribe: boolean;
  readonly now: () => Date;
}
