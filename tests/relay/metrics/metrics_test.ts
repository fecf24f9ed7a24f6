import assert from "node:assert/strict";
import { adminApp } from "../../../relay/admin/app.ts";
import { createMetrics } from "../../../relay/metrics/metrics.ts";
import { ingestOutbox } from "../../../db/ingest.ts";
import { recordOutcomes } from "../../../db/queue.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { testDatabase } from "../../_support/db.ts";
import { insertMany } from "../../_support/outbox.ts";
import { claimReady } from "../../_support/queue.ts";
import { parsePrometheus } from "./_prometheus.ts";

Deno.test("GET /metrics exposes the KPIs and they move as deliveries happen", async () => {
  await using t = await testDatabase();
  const clock = new FakeClock();
  const metrics = createMetrics({ db: t.db, clock });
  const app = adminApp({
    db: t.db,
    token: "0123456789abcdef",
    ready: () => ({ ready: true }),
    clock,
    metrics,
  });
  const scrape = async () => {
    const res = await app.request("/metrics"); // no token: scrapers rarely carry one
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    return parsePrometheus(await res.text());
  };

  let m = await scrape();
  assert.equal(m.get('ferry_queue_depth{status="queued"}'), 0);
  assert.equal(m.get("ferry_oldest_due_age_seconds"), 0);
  assert.equal(m.get("ferry_bounce_rate"), 0);

  const now = new Date(clock.now());
  await insertMany(t.db, 10, "a.test", now);
  await ingestOutbox(t.db, { now });
  await clock.advance(90_000);
  m = await scrape();
  assert.equal(m.get('ferry_queue_depth{status="queued"}'), 10);
  assert.equal(m.get("ferry_oldest_due_age_seconds"), 90);

  // An actor claims four, reports three delivered and one bounced.
  const at = new Date(clock.now());
  const deliveries = await claimReady(t.db, { owner: "a", now: at, leaseMs: 60_000, limit: 4 });
  metrics.setConnections(2);
  metrics.setActors(1);
  m = await scrape();
  assert.equal(m.get('ferry_queue_depth{status="sending"}'), 4);
  assert.equal(m.get('ferry_queue_depth{status="queued"}'), 6);
  assert.equal(m.get("ferry_smtp_connections_open"), 2);
  assert.equal(m.get("ferry_actors_live"), 1);

  const outcomes = deliveries.map((d, i) => ({
    id: d.id,
    leaseToken: d.leaseToken,
    status: i < 3 ? "delivered" as const : "bounced" as const,
    attempted: true,
  }));
  await recordOutcomes(t.db, outcomes, { now: at });
  for (const o of outcomes) {
    metrics.recordOutcome(o.status);
    metrics.observeAttempt(o.status === "delivered" ? 0.3 : 4);
  }
  m = await scrape();
  assert.equal(m.get('ferry_deliveries_total{outcome="delivered"}'), 3);
  assert.equal(m.get('ferry_deliveries_total{outcome="bounced"}'), 1);
  assert.equal(m.get('ferry_queue_depth{status="sending"}'), 0);
  assert.equal(m.get("ferry_attempt_duration_seconds_count"), 4);
  assert.equal(m.get('ferry_attempt_duration_seconds_bucket{le="0.5"}'), 3);
  assert.equal(m.get('ferry_attempt_duration_seconds_bucket{le="5"}'), 4);
  assert.equal(m.get("ferry_bounce_rate"), 0.25);
  assert.equal(m.get("ferry_deferral_rate"), 0);

  // The rates cover a sliding window: five minutes later they are back to zero.
  await clock.advance(6 * 60_000);
  m = await scrape();
  assert.equal(m.get("ferry_bounce_rate"), 0);
  assert.equal(m.get('ferry_deliveries_total{outcome="delivered"}'), 3, "counters never go down");

  metrics.setAlertActive("bounce_rate", true);
  metrics.recordWebhook("retry");
  m = await scrape();
  assert.equal(m.get('ferry_alert_active{alert="bounce_rate",domain=""}'), 1);
  assert.equal(m.get('ferry_webhook_attempts_total{result="retry"}'), 1);
});

Deno.test("createMetrics() keeps its own registry and survives a database failure at scrape", async () => {
  const t = await testDatabase();
  const clock = new FakeClock();
  const errors: unknown[] = [];
  const a = createMetrics({ db: t.db, clock, onError: (e) => errors.push(e) });
  const b = createMetrics({ clock });
  a.recordOutcome("delivered");
  assert.equal(
    parsePrometheus(await b.render()).get('ferry_deliveries_total{outcome="delivered"}'),
    undefined,
  );
  await t[Symbol.asyncDispose]();
  const m = parsePrometheus(await a.render());
  assert.equal(m.get("ferry_metrics_db_errors_total"), 1);
  assert.equal(m.get('ferry_deliveries_total{outcome="delivered"}'), 1);
  assert.equal(errors.length, 1);
});
