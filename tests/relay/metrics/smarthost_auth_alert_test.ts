/**
 * The `smarthost_auth_failed` alert: raised at once (no interval, no threshold) when the latest
 * AUTH through a route was refused, resolved at once by the next accepted AUTH, one per route,
 * through the same events, gauge and webhooks as every other alert.
 */
import assert from "node:assert/strict";
import { alertsSchema } from "../../../relay/metrics/alert_config.ts";
import { createAlertMonitor } from "../../../relay/metrics/alert_monitor.ts";
import { type AlertEvent, evaluateAlerts } from "../../../relay/metrics/alerts.ts";
import { createMetrics } from "../../../relay/metrics/metrics.ts";
import { SmarthostAuthState } from "../../../relay/metrics/smarthost_auth.ts";
import type { WebhookEvent } from "../../../relay/webhooks/payload.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { testDatabase } from "../../_support/db.ts";
import { parsePrometheus } from "./_prometheus.ts";

const REPLY =
  "451 4.7.8 smarthost smtp.example.net refused the credentials for user ferry: 535 5.7.8 " +
  "Error: authentication failed";

const refused = (route = "*") => ({
  kind: "refused" as const,
  route,
  host: "smtp.example.net",
  username: "ferry",
  reply: REPLY,
});
const accepted = (route = "*") => ({
  kind: "accepted" as const,
  route,
  host: "smtp.example.net",
  username: "ferry",
});

Deno.test("SmarthostAuthState keeps the latest outcome per route and says when it flips", () => {
  const state = new SmarthostAuthState();
  assert.equal(state.report(accepted(), 1000), false, "accepted while fine: no change");
  assert.equal(state.report(refused(), 2000), true, "starts failing");
  assert.equal(state.report(refused(), 3000), false, "still failing");
  assert.equal(state.report(refused("a.test"), 3500), true, "another route, its own state");
  assert.deepEqual(
    state.refused().map((r) => [r.route, r.refusals, r.since.getTime()]),
    [["*", 2, 2000], ["a.test", 1, 3500]],
  );
  assert.equal(state.report(accepted(), 4000), true, "fixed");
  assert.deepEqual(state.refused().map((r) => r.route), ["a.test"]);
});

Deno.test("evaluateAlerts() raises smarthost_auth_failed per refused route, with no threshold", () => {
  const config = alertsSchema.parse({});
  const now = Date.UTC(2030, 0, 1);
  const alerts = evaluateAlerts(config, {
    oldestWaitingSince: null,
    outcomes: { bounced: 0, delivered: 0 },
    unreachable: [],
    smarthostAuthRefused: [{
      route: "*",
      host: "smtp.example.net",
      username: "ferry",
      reply: REPLY,
      since: new Date(now),
      refusals: 1,
    }],
  }, now);
  assert.deepEqual(alerts, [{
    name: "smarthost_auth_failed",
    domain: "*",
    value: 1,
    threshold: 1,
    message: "route *: smarthost smtp.example.net refused the credentials for user ferry: " +
      "535 5.7.8 Error: authentication failed; its mail is deferred until AUTH succeeds",
  }]);
});

Deno.test("createAlertMonitor().smarthostAuth() raises and resolves at once: event, gauge, webhook", async () => {
  await using t = await testDatabase();
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const metrics = createMetrics({ clock });
  const seen: AlertEvent[] = [];
  const hooks: WebhookEvent[] = [];
  let notify: (() => void) | undefined;
  const next = () => new Promise<void>((resolve) => notify = resolve);
  const monitor = createAlertMonitor({
    db: t.db,
    clock,
    config: alertsSchema.parse({ interval: "1h" }),
    metrics,
    onAlert: (e) => {
      seen.push(e);
      notify?.();
    },
    webhooks: { enqueue: (events) => Promise.resolve(hooks.push(...events)) },
  });
  const stop = new AbortController();
  const loop = monitor.run(stop.signal);
  await clock.untilSleeping();
  const start = clock.now();

  // No interval passes: the refusal alone raises the alert.
  let raised = next();
  monitor.smarthostAuth(refused());
  await raised;
  assert.equal(clock.now(), start, "not waiting for the interval");
  assert.deepEqual(seen.map((e) => [e.kind, e.alert.name, e.alert.domain]), [
    ["alert.raised", "smarthost_auth_failed", "*"],
  ]);
  await monitor.evaluate(); // the same state again: nothing new
  monitor.smarthostAuth(refused()); // still failing: nothing new either
  await monitor.evaluate();
  assert.equal(seen.length, 1);
  assert.deepEqual(monitor.active().map((a) => [a.name, a.domain, a.value]), [
    ["smarthost_auth_failed", "*", 2],
  ]);
  let m = parsePrometheus(await metrics.render());
  assert.equal(m.get('ferry_alert_active{alert="smarthost_auth_failed",domain="*"}'), 1);

  raised = next();
  monitor.smarthostAuth(accepted());
  await raised;
  assert.deepEqual(seen.map((e) => e.kind), ["alert.raised", "alert.resolved"]);
  assert.deepEqual(monitor.active(), []);
  m = parsePrometheus(await metrics.render());
  assert.equal(m.get('ferry_alert_active{alert="smarthost_auth_failed",domain="*"}'), 0);
  await monitor.evaluate();
  assert.deepEqual(hooks.map((h) => [h.type, h.data.alert, h.data.domain]), [
    ["alert.raised", "smarthost_auth_failed", "*"],
    ["alert.resolved", "smarthost_auth_failed", "*"],
  ]);
  assert.match(String(hooks[0]!.data.message), /refused the credentials for user ferry/);

  stop.abort();
  await loop;
  monitor.smarthostAuth(refused()); // after the monitor stopped: recorded, not evaluated
  assert.equal(seen.length, 2);
});
