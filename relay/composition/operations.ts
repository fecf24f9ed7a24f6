/**
 * What operators see and use of a running relay, wired together: Prometheus metrics, the live
 * state of the domain actors, the alert monitor, the webhook dispatcher and the admin HTTP app.
 *
 * The admin server listens before the relay has started (so `/readyz` can say "starting" while
 * the database is awaited, migrations and the first discovery run): the relay is bound late, with `attach()`. Until then
 * the API shows what the database knows, and operator actions only touch the database.
 *
 * ```ts ignore
 * const ops = startOperations({ db, config, clock, logger, token, signal });
 * Deno.serve({ ... }, ops.app.fetch);
 * ops.attach(await startRelay({ ..., metrics: ops.metrics }, signal));
 * ```
 *
 * @module
 */
import type { Hono } from "hono";
import type { Logger } from "./log.ts";
import { resolvePolicy } from "../../actors/policy.ts";
import type { Db } from "../../db/client.ts";
import { adminApp } from "../admin/mod.ts";
import { supervisorDomainState } from "../admin/mod.ts";
import type { Clock } from "../../lib/clock.ts";
import type { Config } from "../config/config.ts";
import {
  alertLogLine,
  type AlertMonitor,
  createAlertMonitor,
  createMetrics,
  type Metrics,
} from "../metrics/mod.ts";
import type { RunningRelay } from "./relay.ts";
import {
  startWebhookDispatcher,
  type WebhookDispatcher,
  webhookLogLine,
  type WebhookSink,
  webhookSink,
} from "../webhooks/mod.ts";

export interface OperationsDeps {
  readonly db: Db;
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The bearer token of `/api/*`. */
  readonly token: string;
  /** Stops the alert monitor and the webhook dispatcher. */
  readonly signal: AbortSignal;
  /** Replaces `fetch` for webhook POSTs (tests). */
  readonly fetch?: typeof fetch;
  /** Whether the database answers: `/readyz`, `ferry_database_up`, quiet loops while away. */
  readonly health?: {
    readonly up: boolean;
    failed(err: unknown): boolean;
    check(): Promise<boolean>;
  };
}

/** The parts of the running relay operators reach: its supervisor and the outbox poller. */
export type AttachedRelay = Pick<RunningRelay, "wake" | "senders"> & {
  readonly supervisor: Pick<RunningRelay["supervisor"], "describe" | "handBack" | "wake">;
};

export interface Operations {
  /** Pass to `startRelay` so the actors feed it. */
  readonly metrics: Metrics;
  readonly alerts: AlertMonitor;
  /** Undefined without a `webhooks` section. */
  readonly webhooks: WebhookDispatcher | undefined;
  /** The admin HTTP app: serve its `fetch`. */
  readonly app: Hono;
  /** Binds the running relay: live domain state, operator hooks, `/readyz` ready. */
  attach(relay: AttachedRelay): void;
  /** Resolves when the alert monitor and the webhook dispatcher have stopped. */
  readonly done: Promise<void>;
}

export function startOperations(deps: OperationsDeps): Operations {
  const { db, config, clock, logger, signal } = deps;
  const health = deps.health;
  const failed = (loop: string) => (err: unknown) => {
    if (health?.failed(err)) return;
    logger.log({ event: "loop.failed", loop, error: errorText(err) });
  };
  let relay: AttachedRelay | undefined;

  const metrics = createMetrics({
    db,
    clock,
    onError: failed("metrics"),
    ...(health ? { databaseUp: () => health.up } : {}),
  });
  const domains = supervisorDomainState({
    describe: (now) => relay?.supervisor.describe(now) ?? [],
    clock,
    rateOf: (domain) => rateText(resolvePolicy(domain, [], config.domains).rates),
  });

  let webhooks: WebhookDispatcher | undefined;
  let sink: WebhookSink | undefined;
  if (config.webhooks) {
    webhooks = startWebhookDispatcher({
      db,
      clock,
      config: config.webhooks,
      signal,
      metrics,
      onEvent: (e) => {
        if (e.kind === "webhook.loop_failed" && health?.failed(e.cause)) return;
        const line = webhookLogLine(e);
        if (line) logger.log(line);
      },
      ...(health ? { paused: () => !health.up } : {}),
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
    const store = webhookSink(db, config.webhooks, clock);
    const dispatcher = webhooks;
    sink = {
      async enqueue(events) {
        const n = await store.enqueue(events);
        if (n > 0) dispatcher.wake();
        return n;
      },
    };
  }

  const alerts = createAlertMonitor({
    db,
    clock,
    config: config.alerts,
    domains,
    metrics,
    onAlert: (e) => logger.log(alertLogLine(e)),
    ...(sink ? { webhooks: sink } : {}),
    onError: failed("alerts"),
  });
  const alertLoop = alerts.run(signal);

  const app = adminApp({
    db,
    token: deps.token,
    async ready() {
      if (signal.aborted) return { ready: false, reason: "draining" };
      if (health && !(await health.check())) {
        return { ready: false, reason: "the database does not answer" };
      }
      if (relay === undefined) return { ready: false, reason: "starting" };
      return { ready: true };
    },
    clock,
    domains,
    metrics,
    alerts,
    senders: () => relay?.senders?.snapshot(clock.now()),
    limits: {
      maxMessageSize: config.queue.maxMessageSize,
      maxRecipients: config.queue.maxRecipients,
    },
    maxLifetimeMs: config.queue.maxLifetime,
    listUnsubscribe: config.unsubscribe !== undefined,
    hooks: {
      wake: () => relay?.wake(),
      // Deferred rows were made due: the supervisor claims them at its next pass.
      flushed: () => relay?.supervisor.wake(),
      // The suspension is in the database, where claims skip it; the actor gives back what it
      // holds of the domain and finishes only the transactions on the wire.
      suspended: (domain, until) => {
        relay?.supervisor.handBack(domain, until.getTime()).catch(failed("admin.suspend"));
      },
      resumed: () => relay?.supervisor.wake(),
    },
  });

  return {
    metrics,
    alerts,
    webhooks,
    app,
    attach(r) {
      relay = r;
    },
    done: Promise.all([alertLoop, webhooks?.done]).then(() => {}),
  };
}

const UNIT = new Map([[1, "ms"], [1000, "s"], [60_000, "m"], [3_600_000, "h"], [86_400_000, "d"]]);

/** `"100/s, 50000/d"`, as the config writes rates; undefined when there are none. */
function rateText(rates: readonly { count: number; perMs: number }[]): string | undefined {
  if (rates.length === 0) return undefined;
  return rates.map((r) => `${r.count}/${UNIT.get(r.perMs) ?? `${r.perMs}ms`}`).join(", ");
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
