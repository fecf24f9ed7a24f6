/**
 * The relay wired as main.ts wires it (relay/composition/operations.ts): a domain suspended over the admin
 * API keeps its mail queued, `/metrics` shows the queue and raises the age alert, a resume lets
 * the actors deliver to a real SMTP server, and the counters, the queue gauge, the alert and the
 * webhooks all follow.
 */
import assert from "node:assert/strict";
import { startSmtpServer } from "../relay/smtp/_smtp_server.ts";
import { parsePrometheus } from "../relay/metrics/_prometheus.ts";
import { ADMIN_TOKEN, enqueue, startTestRelay } from "./_relay.ts";

Deno.test({
  name: "the wired relay's /metrics, alerts and webhooks follow a suspended domain's mail",
  sanitizeResources: false, // smtp-server (node:net) closes its sockets after close() resolves
  sanitizeOps: false,
  async fn() {
    await using server = await startSmtpServer();
    const posts: { type: string; data: Record<string, unknown> }[] = [];
    const hooks: typeof fetch = (_url, init) => {
      posts.push(JSON.parse(String(init?.body)));
      return Promise.resolve(new Response(null, { status: 204 }));
    };
    await using r = await startTestRelay({
      routes: `*=127.0.0.1:${server.port}`,
      operations: true,
      fetch: hooks,
      config: {
        alerts: { interval: "10s", oldestQueuedAge: "2m", bounceRate: null, unreachableFor: null },
        webhooks: {
          urls: ["https://hooks.test/ferry"],
          secret: "webhook-secret-0123456789",
          events: ["delivered", "alert.raised", "alert.resolved"],
        },
      },
    });
    const app = r.ops!.app;
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await app.request(`/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      assert.equal(res.status, 200, `${method} ${path}`);
      return await res.json();
    };
    const scrape = async () => parsePrometheus(await (await app.request("/metrics")).text());
    const delivered = async () =>
      Object.values(await r.statuses()).filter((s) => s === "delivered").length;

    assert.deepEqual(await (await app.request("/healthz")).json(), { status: "ok" });
    await api("POST", "/domains/held.test/suspend", { minutes: 60, reason: "warm-up" });
    for (let i = 0; i < 4; i++) await enqueue(r, { to: [`u${i}@held.test`] });
    await enqueue(r, { to: ["ada@open.test"] });
    await r.pumpUntil(async () => (await delivered()) === 1, "open.test delivered");

    let m = await scrape();
    assert.equal(m.get('ferry_deliveries_total{outcome="delivered"}'), 1);
    assert.equal(m.get('ferry_queue_depth{status="queued"}'), 4, "held.test waits");
    assert.equal(m.get("ferry_attempt_duration_seconds_count"), 1);
    assert.equal(m.get("ferry_actors_live"), 1, "one actor, for open.test");
    const { domains } = await api("GET", "/domains");
    const live = domains.filter((d: { live: unknown }) => d.live !== null);
    assert.deepEqual(live.map((d: { domain: string }) => d.domain), ["open.test"]);
    assert.equal(
      m.get("ferry_smtp_connections_open"),
      live.reduce((n: number, d: { live: { connections: number } }) => n + d.live.connections, 0),
    );

    // Two minutes on, the oldest waiting delivery raises the age alert.
    await r.pumpUntil(
      () => r.events.some((e) => e.event === "alert.raised"),
      "the age alert",
      1000,
      600,
    );
    m = await scrape();
    assert.equal(m.get('ferry_alert_active{alert="oldest_queued_age",domain=""}'), 1);
    assert.deepEqual(
      (await api("GET", "/alerts")).alerts.map((a: { name: string }) => a.name),
      ["oldest_queued_age"],
    );

    await api("POST", "/domains/held.test/resume");
    await r.pumpUntil(async () => (await delivered()) === 5, "held.test delivered after resume");
    m = await scrape();
    assert.equal(m.get('ferry_deliveries_total{outcome="delivered"}'), 5);
    assert.equal(m.get('ferry_queue_depth{status="queued"}'), 0, "the queue drained");
    assert.equal(m.get('ferry_queue_depth{status="sending"}'), 0);
    assert.equal(m.get("ferry_attempt_duration_seconds_count"), 5);
    assert.equal(server.messages.length, 5);

    await r.pumpUntil(
      () => r.events.some((e) => e.event === "alert.resolved"),
      "the alert resolved",
      1000,
      60,
    );
    await r.pumpUntil(
      () =>
        posts.filter((p) => p.type === "delivered").length === 5 &&
        posts.some((p) => p.type === "alert.resolved"),
      "the webhooks",
      100,
      600,
    );
    m = await scrape();
    assert.equal(m.get('ferry_alert_active{alert="oldest_queued_age",domain=""}'), 0);
    assert.equal(m.get('ferry_webhook_attempts_total{result="delivered"}'), posts.length);
    assert.deepEqual(
      posts.filter((p) => p.type.startsWith("alert.")).map((p) => [p.type, p.data.alert]),
      [["alert.raised", "oldest_queued_age"], ["alert.resolved", "oldest_queued_age"]],
    );
    assert.ok(r.events.some((e) => e.event === "webhook.pass" && e.attempted > 0));
    assert.ok(!r.events.some((e) => e.event === "webhook.attempted"), "no failed POST");

    // Idle actors are retired and their connections closed: the gauges go back to zero.
    await r.pumpUntil(
      async () => {
        const g = await scrape();
        return g.get("ferry_actors_live") === 0 && g.get("ferry_smtp_connections_open") === 0;
      },
      "actors retired",
      1000,
      300,
    );
  },
});
