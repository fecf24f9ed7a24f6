import assert from "node:assert/strict";
import { ingestOutbox } from "../../../db/ingest.ts";
import type { LiveDomainState } from "../../../relay/admin/domain_state.ts";
import { insertMany } from "../../_support/outbox.ts";
import { claimReady } from "../../_support/queue.ts";
import { fixture, settleAll } from "./_helpers.ts";

Deno.test("GET /api/v1/queue and /api/v1/domains merge database counts with live actor state", async () => {
  const live: LiveDomainState[] = [{
    domain: "busy.test",
    state: "sending",
    inFlight: 3,
    connections: 2,
    rateBudget: { available: 40, capacity: 100, rate: "100/m" },
    backoffUntil: null,
    lastReply: { code: 250, text: "250 2.0.0 queued", at: new Date(0) },
  }, { domain: "idle.test", state: "idle", inFlight: 0, connections: 1 }];
  const asked: (string | undefined)[] = [];
  await using f = await fixture({
    domains: {
      domainState(domain) {
        asked.push(domain);
        return live.filter((s) => domain === undefined || s.domain === domain);
      },
    },
  });
  const now = new Date(f.clock.now());
  await insertMany(f.db, 30, "busy.test", now);
  await insertMany(f.db, 5, "quiet.test", now);
  await ingestOutbox(f.db, { now, limit: 100 });
  await settleAll(f.db, now, "deferred", 4); // the claim is fair: two rows of each domain
  await f.call("POST", "/api/v1/domains/paused.test/suspend", {
    minutes: 10,
    reason: "abuse desk",
  });

  const queue = await (await f.call("GET", "/api/v1/queue")).json();
  assert.equal(queue.counts.queued, 31);
  assert.equal(queue.counts.deferred, 4);
  assert.deepEqual(queue.busiest_domains.map((d: { domain: string }) => d.domain), [
    "busy.test",
    "quiet.test",
  ]);

  const { domains, live: hasLive } = await (await f.call("GET", "/api/v1/domains")).json();
  assert.equal(hasLive, true);
  assert.deepEqual(domains.map((d: { domain: string }) => d.domain), [
    "busy.test",
    "quiet.test",
    "idle.test",
    "paused.test",
  ]);
  const busy = domains[0];
  assert.equal(busy.queued + busy.deferred, 30);
  assert.equal(busy.live.connections, 2);
  assert.deepEqual(busy.live.rate_budget, {
    available: 40,
    capacity: 100,
    rate: "100/m",
    adaptive_per_second: null,
    next_free_at: null,
  });
  assert.equal(domains[3].suspended.reason, "abuse desk");
  assert.equal(domains[3].live, null);

  const one = await (await f.call("GET", "/api/v1/domains/BUSY.test")).json();
  assert.equal(one.domain, "busy.test");
  assert.equal(one.live.in_flight, 3);
  assert.equal(one.last_reply.code, 451);
  assert.ok(asked.includes("busy.test"));
  const unknown = await (await f.call("GET", "/api/v1/domains/nowhere.test")).json();
  assert.equal(unknown.queued, 0);
  assert.equal(unknown.live, null);
  const bad = await f.call("GET", "/api/v1/domains/not%20a%20domain");
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).field, "domain");
});

Deno.test("POST /api/v1/domains/{d}/suspend, /resume and /flush steer a destination", async () => {
  const calls: string[] = [];
  await using f = await fixture({
    hooks: {
      suspended: (d, until, reason) =>
        calls.push(`suspended ${d} ${until.toISOString()} ${reason}`),
      resumed: (d) => calls.push(`resumed ${d}`),
      flushed: (d) => calls.push(`flushed ${d ?? "*"}`),
    },
  });
  const now = new Date(f.clock.now());
  await insertMany(f.db, 3, "x.test", now);
  await insertMany(f.db, 2, "y.test", now);
  await ingestOutbox(f.db, { now });

  const s = await f.call("POST", "/api/v1/domains/x.test/suspend", {
    minutes: 30,
    reason: "4.7.0",
  });
  assert.equal(s.status, 200);
  const until = new Date(now.getTime() + 30 * 60_000).toISOString();
  assert.deepEqual(await s.json(), { domain: "x.test", reason: "4.7.0", until });
  const claim = await claimReady(f.db, { owner: "t", now, leaseMs: 1000, limit: 100 });
  assert.deepEqual([...new Set(claim.map((d) => d.domain))], ["y.test"]);

  for (
    const [body, field] of [
      [{ reason: "x" }, "minutes"],
      [{ minutes: 0, reason: "x" }, "minutes"],
      [
        { minutes: 5, reason: " " },
        "reason",
      ],
    ] as const
  ) {
    const res = await f.call("POST", "/api/v1/domains/x.test/suspend", body);
    assert.equal(res.status, 400);
    assert.equal((await res.json()).field, field);
  }

  assert.deepEqual(await (await f.call("POST", "/api/v1/domains/x.test/resume")).json(), {
    domain: "x.test",
    resumed: true,
  });
  assert.equal(
    (await (await f.call("POST", "/api/v1/domains/x.test/resume")).json()).resumed,
    false,
  );

  await f.db.updateTable("ferry.deliveries")
    .set({ status: "deferred", attempts: 1, next_attempt_at: new Date(now.getTime() + 3_600_000) })
    .execute();
  const flushed = await (await f.call("POST", "/api/v1/domains/x.test/flush")).json();
  assert.deepEqual(flushed, { domain: "x.test", rescheduled: 3 });
  const all = await (await f.call("POST", "/api/v1/flush")).json();
  assert.deepEqual(all, { rescheduled: 2 });
  assert.deepEqual(calls, [
    `suspended x.test ${until} 4.7.0`,
    "resumed x.test",
    "resumed x.test",
    "flushed x.test",
    "flushed *",
  ]);
});
