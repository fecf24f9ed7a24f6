/**
 * Prometheus metrics, on a registry of their own (never prom-client's global one, so two relays
 * in one test process do not share counters).
 *
 * Two kinds of numbers:
 * - what happens in this process, pushed by the actors through {@link Metrics}: outcomes,
 *   attempt latency, open connections, live actors, webhook results, active alerts;
 * - what is in the database, read at scrape time by one cheap statement over the waiting rows:
 *   queue depth by status and the age of the oldest due delivery. Several instances sharing a
 *   database all report the same queue; sum the counters, not these gauges.
 *
 * No metric is labelled by destination domain: that label is unbounded (one series per domain
 * ever mailed). Per-domain numbers are in `GET /api/v1/domains`.
 *
 * @module
 */
import client from "prom-client";
import type { Clock } from "../../lib/clock.ts";
import type { Db } from "../../db/client.ts";
import { queueGauges } from "../../db/admin_stats.ts";
import { OutcomeWindow } from "./outcome_window.ts";

/** Outcomes an actor reports; `kind` is the delivery's new status. */
export type OutcomeKind =
  | "delivered"
  | "deferred"
  | "bounced"
  | "expired"
  | "cancelled"
  | "suppressed"
  | "rejected";

export interface Metrics {
  readonly registry: client.Registry;
  /** `text/plain; version=0.0.4; charset=utf-8`. */
  readonly contentType: string;
  /** One delivery reached an outcome. */
  recordOutcome(kind: OutcomeKind): void;
  /** One SMTP attempt (connect to final reply) took `seconds`. */
  observeAttempt(seconds: number): void;
  setConnections(n: number): void;
  setActors(n: number): void;
  recordWebhook(result: "delivered" | "retry" | "failed"): void;
  /**
   * One TLS result of a connection attempt: the policy that applied (`dane`, `mta-sts`, `route`,
   * `none`) and `success` or the RFC 8460 failure type.
   */
  recordTls(policy: string, result: string): void;
  /**
   * A delivery was held back by its sender's limit (`sender`: a `senders` key, so the label is
   * bounded by the config) because of its `rate` or its `connections` cap; it waits, unattempted.
   */
  recordSenderWait(sender: string, reason: "rate" | "connections"): void;
  setAlertActive(alert: string, active: boolean, domain?: string): void;
  /** The text exposition, database gauges refreshed first. */
  render(): Promise<string>;
}

export interface MetricsOptions {
  /** Source of the queue gauges; without it they are not exported. */
  readonly db?: Db;
  readonly clock: Clock;
  /** Window of the bounce and deferral rate gauges (default 5 minutes). */
  readonly rateWindowMs?: number;
  /** Called when a scrape cannot read the database (the gauges keep their last values). */
  readonly onError?: (err: unknown) => void;
  /** Whether the database answers, read at scrape time (`ferry_database_up`). */
  readonly databaseUp?: () => boolean;
}

export function createMetrics(o: MetricsOptions): Metrics {
  const registry = new client.Registry();
  const registers = [registry];
  const window = new OutcomeWindow(o.clock, o.rateWindowMs ?? 300_000);

  const outcomes = new client.Counter({
    name: "ferry_deliveries_total",
    help: "Deliveries that reached an outcome, by outcome.",
    labelNames: ["outcome"] as const,
    registers,
  });
  const attempts = new client.Histogram({
    name: "ferry_attempt_duration_seconds",
    help: "Duration of one SMTP delivery attempt, connection to final reply.",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers,
  });
  if (o.databaseUp) {
    const up = o.databaseUp;
    new client.Gauge({
      name: "ferry_database_up",
      help: "1 while the database answers, 0 while the relay waits for it.",
      registers,
      collect() {
        this.set(up() ? 1 : 0);
      },
    });
  }
  const connections = new client.Gauge({
    name: "ferry_smtp_connections_open",
    help: "Open outbound SMTP connections.",
    registers,
  });
  const actors = new client.Gauge({
    name: "ferry_actors_live",
    help: "Live destination-domain actors.",
    registers,
  });
  const tlsResults = new client.Counter({
    name: "ferry_tls_results_total",
    help: "TLS results of connection attempts, by policy applied and result " +
      "(success or an RFC 8460 failure type).",
    labelNames: ["policy", "result"] as const,
    registers,
  });
  const senderWaits = new client.Counter({
    name: "ferry_sender_waits_total",
    help: "Times a sender's limit (a `senders` entry) held its mail back, by sender and reason " +
      "(rate, connections); the mail waits, unattempted.",
    labelNames: ["sender", "reason"] as const,
    registers,
  });
  const webhooks = new client.Counter({
    name: "ferry_webhook_attempts_total",
    help: "Webhook POST attempts, by result (delivered, retry: will be tried again, failed).",
    labelNames: ["result"] as const,
    registers,
  });
  const alerts = new client.Gauge({
    name: "ferry_alert_active",
    help: "1 while an alert is raised.",
    labelNames: ["alert", "domain"] as const,
    registers,
  });
  new client.Gauge({
    name: "ferry_bounce_rate",
    help: "Share of outcomes in the rate window that were bounces (0..1).",
    registers,
    collect() {
      this.set(window.share("bounced"));
    },
  });
  new client.Gauge({
    name: "ferry_deferral_rate",
    help: "Share of outcomes in the rate window that were deferrals (0..1).",
    registers,
    collect() {
      this.set(window.share("deferred"));
    },
  });
  if (o.db) {
    const db = o.db;
    // Both gauges come from one statement; the collect() of each runs in the same scrape, so
    // they share the one in flight. prom-client awaits a collect() that returns a promise.
    let inflight: Promise<void> | undefined;
    const refresh = (): Promise<void> =>
      inflight ??= (async () => {
        try {
          const now = o.clock.now();
          const g = await queueGauges(db, new Date(now));
          for (const [status, n] of Object.entries(g.depth)) depth.set({ status }, n);
          oldest.set(g.oldestDueAt ? Math.max(0, (now - g.oldestDueAt.getTime()) / 1000) : 0);
        } catch (err) {
          scrapeErrors.inc();
          o.onError?.(err);
        } finally {
          inflight = undefined;
        }
      })();
    const depth = new client.Gauge({
      name: "ferry_queue_depth",
      help: "Deliveries waiting or in flight, by status (read from the database at scrape).",
      labelNames: ["status"] as const,
      registers,
      collect: refresh,
    });
    const oldest = new client.Gauge({
      name: "ferry_oldest_due_age_seconds",
      help: "How long the oldest due delivery has been due (0 when none is).",
      registers,
      collect: refresh,
    });
    // Registered after the gauges, so its collect() runs after theirs started the refresh and
    // can wait for it: a failure is counted in the same scrape.
    const scrapeErrors = new client.Counter({
      name: "ferry_metrics_db_errors_total",
      help: "Scrapes whose database gauges could not be read.",
      registers,
      collect: () => inflight,
    });
  }

  return {
    registry,
    contentType: registry.contentType,
    recordOutcome(kind) {
      outcomes.inc({ outcome: kind });
      window.record(kind);
    },
    observeAttempt: (seconds) => attempts.observe(seconds),
    setConnections: (n) => connections.set(n),
    setActors: (n) => actors.set(n),
    recordWebhook: (result) => webhooks.inc({ result }),
    recordTls: (policy, result) => tlsResults.inc({ policy, result }),
    recordSenderWait: (sender, reason) => senderWaits.inc({ sender, reason }),
    setAlertActive: (alert, active, domain = "") => alerts.set({ alert, domain }, active ? 1 : 0),
    render: () => registry.metrics(),
  };
}
