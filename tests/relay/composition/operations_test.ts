import assert from "node:assert/strict";
import type { LogEvent } from "../../../relay/composition/log.ts";
import { loadConfig } from "../../../relay/config/config.ts";
import { type AttachedRelay, startOperations } from "../../../relay/composition/operations.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { testDatabase } from "../../_support/db.ts";
import { insertMany } from "../../_support/outbox.ts";
import { ingestOutbox } from "../../../db/ingest.ts";

const TOKEN = "ops-token-0123456789";

Deno.test("startOperations() binds the relay late and routes operator actions to it", async () => {
  await using t = await testDatabase();
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const config = loadConfig(
    { FERRY_CONFIG: "ferry.json" },
    () => JSON.stringify({ domains: { "rated.test": { rates: ["100/s", "5000/d"] } } }),
    () => "relay.test",
  );
  const events: LogEvent[] = [];
  const stop = new AbortController();
  const ops = startOperations({
    db: t.db,
    config,
    clock,
    logger: { log: (e) => events.push(e) },
    token: TOKEN,
    signal: stop.signal,
  });
  const calls: string[] = [];
  const relay: AttachedRelay = {
    wake: () => calls.push("wake"),
    supervisor: {
      wake: () => calls.push("supervisor.wake"),
      handBack: (domain, at) => {
        calls.push(`handBack ${domain} ${at - clock.now()}`);
        return Promise.resolve(3);
      },
      describe: () => [{
        key: "rated.test",
        domains: ["rated.test"],
        state: { queued: 2, inFlight: 1, connections: 1, budgetAvailable: 7 },
      }],
    },
  };
  const post = (path: string, body?: unknown) =>
    ops.app.request(`/api/v1${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body ?? {}),
    });
  try {
    // Before the relay is bound: not ready, operator actions only touch the database.
    assert.equal((await ops.app.request("/readyz")).status, 503);
    assert.equal((await ops.app.request("/livez")).status, 200);
    assert.equal(
      (await post("/domains/rated.test/suspend", { minutes: 5, reason: "x" })).status,
      200,
    );
    assert.deepEqual(calls, []);

    ops.attach(relay);
    assert.deepEqual(await (await ops.app.request("/readyz")).json(), { status: "ready" });
    assert.equal(
      (await post("/domains/rated.test/suspend", { minutes: 10, reason: "y" })).status,
      200,
    );
    assert.equal((await post("/domains/rated.test/resume")).status, 200);
    assert.equal((await post("/domains/rated.test/flush")).status, 200);
    assert.equal((await post("/flush")).status, 200);
    const created = await post("/messages", {
      from_address: "a@shop.test",
      to_addresses: ["b@rated.test"],
      text_body: "hi",
    });
    assert.equal(created.status, 201);
    assert.deepEqual(calls, [
      "handBack rated.test 600000",
      "supervisor.wake",
      "supervisor.wake",
      "supervisor.wake",
      "wake",
    ]);

    const res = await ops.app.request("/api/v1/domains/rated.test", {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const body = await res.json();
    assert.equal(body.live.state, "sending");
    assert.equal(body.live.in_flight, 3);
    assert.deepEqual(body.live.rate_budget, {
      available: 7,
      capacity: null,
      rate: "100/s, 5000/d",
      adaptive_per_second: null,
      next_free_at: null,
    });
  } finally {
    stop.abort();
    await ops.done;
  }
  assert.equal(ops.webhooks, undefined, "no webhooks section: no dispatcher");
  assert.deepEqual(events.filter((e) => e.event === "loop.failed"), []);
});

Deno.test("startOperations() sends alerts as webhooks and logs a failed POST without secrets", async () => {
  await using t = await testDatabase();
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const url = "https://ops:hunter2@hooks.test/ferry?key=s3cret";
  const config = loadConfig(
    { FERRY_CONFIG: "ferry.json" },
    () =>
      JSON.stringify({
        webhooks: { urls: [url], secret: "webhook-secret-0123456789", maxAttempts: 1 },
        alerts: { interval: "1h", oldestQueuedAge: "10m" },
      }),
    () => "relay.test",
  );
  const events: LogEvent[] = [];
  const posted: string[] = [];
  const stop = new AbortController();
  const ops = startOperations({
    db: t.db,
    config,
    clock,
    logger: { log: (e) => events.push(e) },
    token: TOKEN,
    signal: stop.signal,
    fetch: (input, init) => {
      posted.push(`${input} ${JSON.parse(String(init?.body)).type}`);
      return Promise.reject(new TypeError(`error sending request for url (${input})`));
    },
  });
  try {
    await insertMany(t.db, 2, "slow.test", new Date(clock.now()));
    await ingestOutbox(t.db, { now: new Date(clock.now()) });
    await clock.advance(11 * 60_000);
    const raisedAt = clock.now();
    const raised = await ops.alerts.evaluate();
    assert.deepEqual(raised.map((e) => [e.kind, e.alert.name]), [
      ["alert.raised", "oldest_queued_age"],
    ]);
    // The alert woke the dispatcher: wait (bounded) for its POST, letting real I/O run and
    // fake time move in case it was mid-pass and went back to its idle wait.
    for (let i = 0; i < 500 && !events.some((e) => e.event === "webhook.attempted"); i++) {
      await new Promise((r) => setTimeout(r, 2));
      await clock.advance(100);
    }
    assert.deepEqual(posted, [`${url} alert.raised`]);
    const failedPost = events.find((e) => e.event === "webhook.attempted");
    assert.ok(failedPost?.event === "webhook.attempted");
    assert.equal(failedPost.url, "https://hooks.test/ferry");
    assert.equal(failedPost.outcome, "failed");
    assert.doesNotMatch(JSON.stringify(events), /hunter2|s3cret|webhook-secret/);
    const alert = events.find((e) => e.event === "alert.raised");
    assert.ok(alert?.event === "alert.raised");
    assert.equal(alert.alert, "oldest_queued_age");
    assert.equal(alert.since, raisedAt);
    const scrape = await (await ops.app.request("/metrics")).text();
    assert.match(scrape, /ferry_alert_active\{alert="oldest_queued_age",domain=""\} 1/);
    assert.match(scrape, /ferry_webhook_attempts_total\{result="failed"\} 1/);
  } finally {
    stop.abort();
    await ops.done;
  }
});
