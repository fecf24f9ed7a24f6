import assert from "node:assert/strict";
import { alertsSchema } from "../../../relay/metrics/alert_config.ts";
import { createAlertMonitor } from "../../../relay/metrics/alert_monitor.ts";
import { type AlertEvent, evaluateAlerts } from "../../../relay/metrics/alerts.ts";
import { createMetrics } from "../../../relay/metrics/metrics.ts";
import type { LiveDomainState } from "../../../relay/admin/domain_state.ts";
import type { WebhookEvent } from "../../../relay/webhooks/payload.ts";
import { ingestOutbox } from "../../../db/ingest.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { testDatabase } from "../../_support/db.ts";
import { insertMany } from "../../_support/outbox.ts";
import { settleAll } from "../admin/_helpers.ts";
import { parsePrometheus } from "./_prometheus.ts";

const config = alertsSchema.parse({
  interval: "30s",
  oldestQueuedAge: "1h",
  bounceRate: { threshold: 0.2, window: "10m", minOutcomes: 10 },
  unreachableFor: "5m",
});

Deno.test("evaluateAlerts() fires each rule past its threshold only", () => {
  const now = Date.UTC(2026, 0, 1, 12);
  const quiet = {
    oldestWaitingSince: null,
    outcomes: { bounced: 0, delivered: 0 },
    unreachable: [],
  };
  assert.deepEqual(evaluateAlerts(config, quiet, now), []);
  const fired = evaluateAlerts(config, {
    oldestWaitingSince: new Date(now - 2 * 3_600_000),
    outcomes: { bounced: 3, delivered: 7 },
    unreachable: [
      { domain: "down.test", since: new Date(now - 6 * 60_000) },
      { domain: "flaky.test", since: new Date(now - 60_000) },
    ],
  }, now);
  assert.deepEqual(fired.map((a) => [a.name, a.domain, a.value, a.threshold]), [
    ["oldest_queued_age", null, 7200, 3600],
    ["bounce_rate", null, 0.3, 0.2],
    ["destination_unreachable", "down.test", 360, 300],
  ]);
  assert.match(fired[1]!.message, /30\.0% of 10 outcomes in the last 10m bounced/);
  // Too few outcomes say nothing; a rule set to null is off.
  assert.deepEqual(
    evaluateAlerts(config, { ...quiet, outcomes: { bounced: 5, delivered: 0 } }, now),
    [],
  );
  const off = alertsSchema.parse({ oldestQueuedAge: null, bounceRate: null, unreachableFor: null });
  assert.deepEqual(
    evaluateAlerts(off, {
      oldestWaitingSince: new Date(0),
      outcomes: { bounced: 100, delivered: 0 },
      unreachable: [{ domain: "x.test", since: new Date(0) }],
    }, now),
    [],
  );
});

Deno.test("createAlertMonitor() raises and resolves alerts as events, metrics and webhooks", async () => {
  await using t = await testDatabase();
  const clock = new FakeClock();
  const metrics = createMetrics({ clock });
  const seen: AlertEvent[] = [];
  const hooks: WebhookEvent[] = [];
  let live: LiveDomainState[] = [];
  const monitor = createAlertMonitor({
    db: t.db,
    clock,
    config,
    metrics,
    domains: { domainState: () => live },
    onAlert: (e) => seen.push(e),
    webhooks: { enqueue: (events) => Promise.resolve(hooks.push(...events)) },
  });
  assert.deepEqual(await monitor.evaluate(), []);

  // 20 deliveries queued now; 12 delivered, 4 bounced (20% is not above the 20% threshold).
  const start = new Date(clock.now());
  await insertMany(t.db, 20, "a.test", start);
  await ingestOutbox(t.db, { now: start });
  await t.db.updateTable("ferry.deliveries").set({ created_at: start }).execute();
  await settleAll(t.db, start, "delivered", 12);
  await settleAll(t.db, start, "bounced", 3);
  assert.deepEqual(await monitor.evaluate(), []);
  await settleAll(t.db, start, "bounced", 1); // 4 of 16: 25%
  const [bounce] = await monitor.evaluate();
  assert.equal(bounce?.kind, "alert.raised");
  assert.equal(bounce?.alert.name, "bounce_rate");

  // An hour and a bit later: the 4 waiting rows are late, the bounces left the window, and the
  // actors report a destination down for 6 minutes.
  await clock.advance(3_700_000);
  live = [{
    domain: "down.test",
    state: "unreachable",
    inFlight: 0,
    connections: 0,
    unreachableSince: new Date(clock.now() - 6 * 60_000),
  }];
  const changes = await monitor.evaluate();
  assert.deepEqual(changes.map((e) => [e.kind, e.alert.name, e.alert.domain]), [
    ["alert.raised", "oldest_queued_age", null],
    ["alert.raised", "destination_unreachable", "down.test"],
    ["alert.resolved", "bounce_rate", null],
  ]);
  assert.deepEqual(monitor.active().map((a) => a.name).sort(), [
    "destination_unreachable",
    "oldest_queued_age",
  ]);
  assert.deepEqual(await monitor.evaluate(), [], "a standing alert is not raised twice");

  const m = parsePrometheus(await metrics.render());
  assert.equal(m.get('ferry_alert_active{alert="oldest_queued_age",domain=""}'), 1);
  assert.equal(m.get('ferry_alert_active{alert="destination_unreachable",domain="down.test"}'), 1);
  assert.equal(m.get('ferry_alert_active{alert="bounce_rate",domain=""}'), 0);
  assert.deepEqual(hooks.map((h) => h.type), [
    "alert.raised",
    "alert.raised",
    "alert.raised",
    "alert.resolved",
  ]);
  assert.equal(hooks[2]!.data.domain, "down.test");
  assert.equal(new Set(hooks.map((h) => h.id)).size, 4);
  assert.equal(seen.length, 4);

  live = [];
  await t.db.updateTable("ferry.deliveries").set({ status: "cancelled" })
    .where("status", "=", "queued").execute();
  const resolved = await monitor.evaluate();
  assert.deepEqual(resolved.map((e) => e.kind), ["alert.resolved", "alert.resolved"]);
  assert.deepEqual(monitor.active(), []);
});

Deno.test("createAlertMonitor().run() evaluates every interval on the clock until stopped", async () => {
  await using t = await testDatabase();
  const clock = new FakeClock();
  let live: LiveDomainState[] = [];
  const seen: AlertEvent[] = [];
  const monitor = createAlertMonitor({
    db: t.db,
    clock,
    config,
    domains: { domainState: () => live },
    onAlert: (e) => seen.push(e),
  });
  const stop = new AbortController();
  const done = monitor.run(stop.signal);
  await clock.untilSleeping();
  live = [{
    domain: "down.test",
    state: "unreachable",
    inFlight: 0,
    connections: 0,
    unreachableSince: new Date(clock.now() - 600_000),
  }];
  assert.equal(seen.length, 0);
  await clock.advance(30_000);
  await clock.untilSleeping();
  assert.deepEqual(seen.map((e) => e.kind), ["alert.raised"]);
  stop.abort();
  await done;
  assert.equal(clock.pending, 0);
});
