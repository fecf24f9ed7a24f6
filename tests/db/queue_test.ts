import assert from "node:assert/strict";
import { sql } from "kysely";
import { ingestOutbox } from "../../db/ingest.ts";
import {
  cancelMessage,
  claimDomains,
  countByStatus,
  reapAllExpiredLeases,
  reapExpiredLeases,
  reclaimOwnLeases,
  recordOutcomes,
  releaseClaims,
} from "../../db/queue.ts";
import type { Db } from "../../db/client.ts";
import { acquireLeases, domainLease } from "../../db/leases.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";
import { insertMany, insertOutbox } from "../_support/outbox.ts";

// After any real now(): rows inserted with the default send_at are due at t0.
const t0 = new Date("2030-03-01T10:00:00Z");
const at = (s: number) => new Date(t0.getTime() + s * 1000);
const put = (db: Db, row: Parameters<typeof insertOutbox>[1] = {}) =>
  insertOutbox(db, { created_at: t0, send_at: t0, ...row });
/** Claims `[domain, limit]` pairs in one statement, as `owner`, under a 30 s lease. */
const claim = (db: Db, now: Date, requests: [string, number][], owner = "i1") =>
  claimDomains(db, {
    requests: requests.map(([domain, limit]) => ({ domain, limit })),
    owner,
    leaseMs: 30_000,
    now,
  });

async function statusOf(db: Db, id: number) {
  return await db.selectFrom("ferry.deliveries").selectAll().where("id", "=", id)
    .executeTakeFirstOrThrow();
}

Deno.test("claimDomains() takes the highest priority, then the longest due, and respects send_at", async () => {
  await using t = await testDatabase();
  // Inserted out of due order, so the order claimed is not the order of the ids.
  await put(t.db, { to_addresses: ["low@a.test"], priority: 2, send_at: at(-30) });
  await put(t.db, { to_addresses: ["normal-new@a.test"], send_at: at(-10) });
  await put(t.db, { to_addresses: ["normal-old@a.test"], send_at: at(-20) });
  await put(t.db, { to_addresses: ["high@a.test"], priority: 0, send_at: at(-1) });
  await put(t.db, { to_addresses: ["future@a.test"], priority: 0, send_at: at(3600) });
  await ingestOutbox(t.db, { now: t0 });
  const order: string[] = [];
  let token = 0;
  for (let i = 0; i < 5; i++) {
    const got = await claim(t.db, t0, [["a.test", 1]]);
    if (got.length === 0) break;
    assert.equal(got.length, 1);
    assert.ok(got[0]!.leaseToken > token, "fencing tokens grow");
    token = got[0]!.leaseToken;
    order.push(got[0]!.recipient);
  }
  assert.deepEqual(order, ["high@a.test", "normal-old@a.test", "normal-new@a.test", "low@a.test"]);
  const later = await claim(t.db, at(3600), [["a.test", 10]]);
  assert.deepEqual(later.map((d) => d.recipient), ["future@a.test"]);
});

Deno.test("claimDomains() gives one claim one lease token, each destination up to its own limit", async () => {
  await using t = await testDatabase();
  await insertMany(t.db, 100_000, "huge.test", at(-3600));
  await put(t.db, { to_addresses: ["one@small.test"], send_at: at(-1) });
  for (;;) if ((await ingestOutbox(t.db, { now: t0, limit: 5000 })).rows === 0) break;
  const got = await claim(t.db, t0, [["huge.test", 10], ["small.test", 10]]);
  assert.equal(got.filter((d) => d.domain === "huge.test").length, 10, "capped per destination");
  assert.deepEqual(
    got.filter((d) => d.domain === "small.test").map((d) => d.recipient),
    ["one@small.test"],
    "a 100,000-row backlog does not push out another destination's one",
  );
  assert.equal(new Set(got.map((d) => d.leaseToken)).size, 1);
});

Deno.test("claimDomains() skips suspended destinations until the suspension ends", async () => {
  await using t = await testDatabase();
  await put(t.db, { to_addresses: ["x@held.test"], send_at: at(-1) });
  await put(t.db, { to_addresses: ["x@free.test"], send_at: at(-1) });
  await ingestOutbox(t.db, { now: t0 });
  await t.db.insertInto("ferry.domain_suspensions")
    .values({ domain: "held.test", reason: "operator", until: at(600) }).execute();
  const both: [string, number][] = [["held.test", 10], ["free.test", 10]];
  assert.deepEqual((await claim(t.db, t0, both)).map((d) => d.domain), ["free.test"]);
  assert.deepEqual((await claim(t.db, at(601), both)).map((d) => d.domain), ["held.test"]);
});

Deno.test("recordOutcomes() writes many outcomes and events in one call and refuses stale leases", async () => {
  await using t = await testDatabase();
  await put(t.db, { to_addresses: ["a@x.test", "b@x.test", "c@x.test", "d@x.test"] });
  await ingestOutbox(t.db, { now: t0 });
  const [a, b, c, d] = await claim(t.db, t0, [["x.test", 10]]);
  assert.ok(a && b && c && d);
  const res = await recordOutcomes(t.db, [
    {
      id: a.id,
      leaseToken: a.leaseToken,
      status: "delivered",
      attempted: true,
      code: 250,
      reply: "250 2.0.0 ok",
      mxHost: "mx.x.test",
      tls: true,
      durationMs: 12,
    },
    {
      id: b.id,
      leaseToken: b.leaseToken,
      status: "deferred",
      attempted: true,
      code: 451,
      reply: "451 4.7.1 later",
      nextAttemptAt: at(300),
    },
    {
      id: c.id,
      leaseToken: c.leaseToken,
      status: "bounced",
      attempted: true,
      code: 550,
      enhanced: "5.1.1",
      reply: "550 5.1.1 no such user",
      bounceClass: "invalid_recipient",
      suppress: { reason: "550 5.1.1 no such user", until: null },
    },
    { id: d.id, leaseToken: d.leaseToken + 1000, status: "delivered", attempted: true },
  ], { now: at(1), instance: "i1" });
  assert.deepEqual(res.applied.sort(), [a.id, b.id, c.id].sort());
  assert.deepEqual(res.refused, [d.id]);
  const da = await statusOf(t.db, a.id);
  assert.equal(da.status, "delivered");
  assert.equal(da.attempts, 1);
  assert.equal(da.last_code, 250);
  assert.ok(da.delivered_at);
  assert.equal(da.lease_token, null);
  const db_ = await statusOf(t.db, b.id);
  assert.equal(db_.status, "deferred");
  assert.equal(new Date(db_.next_attempt_at).getTime(), at(300).getTime());
  assert.equal((await statusOf(t.db, c.id)).bounce_class, "invalid_recipient");
  assert.equal((await statusOf(t.db, d.id)).status, "sending", "a stale report changes nothing");
  const events = await t.db.selectFrom("ferry.events").selectAll().orderBy("delivery_id").execute();
  assert.deepEqual(events.map((e) => [e.delivery_id, e.kind, e.code]), [
    [a.id, "delivered", 250],
    [b.id, "deferred", 451],
    [c.id, "bounced", 550],
  ]);
  assert.equal(events[0]!.tls, true);
  assert.equal(events[0]!.mx_host, "mx.x.test");
  const sup = await t.db.selectFrom("ferry.suppressions").selectAll().execute();
  assert.deepEqual(sup.map((s) => s.address), ["c@x.test"]);
  // The same delivery's second report (a retry of the write) is refused, not double-counted.
  const again = await recordOutcomes(t.db, [
    { id: a.id, leaseToken: a.leaseToken, status: "delivered", attempted: true },
  ], { now: at(2) });
  assert.deepEqual(again.refused, [a.id]);
  assert.equal((await statusOf(t.db, a.id)).attempts, 1);
});

Deno.test("recordOutcomes() expires a deferral that cannot happen before expires_at", async () => {
  await using t = await testDatabase();
  await put(t.db, { expires_at: at(600) });
  await ingestOutbox(t.db, { now: t0 });
  const [d] = await claim(t.db, t0, [["example.test", 1]]);
  await recordOutcomes(t.db, [{
    id: d!.id,
    leaseToken: d!.leaseToken,
    status: "deferred",
    attempted: true,
    code: 421,
    reply: "421 4.3.2 busy",
    nextAttemptAt: at(900),
  }], { now: at(1) });
  const row = await statusOf(t.db, d!.id);
  assert.equal(row.status, "expired");
  assert.equal(row.last_reply, "421 4.3.2 busy", "the last reply is kept");
});

Deno.test("reapExpiredLeases() brings back a crashed instance's claims; the old holder is fenced out", async () => {
  await using t = await testDatabase();
  await put(t.db);
  await ingestOutbox(t.db, { now: t0 });
  const [d] = await claim(t.db, t0, [["example.test", 1]], "dead");
  assert.equal((await claim(t.db, at(10), [["example.test", 1]])).length, 0);
  assert.equal(await reapExpiredLeases(t.db, { now: at(29) }), 0, "not before the lease ends");
  assert.equal(await reapExpiredLeases(t.db, { now: at(31) }), 1);
  const [again] = await claim(t.db, at(31), [["example.test", 1]], "alive");
  assert.equal(again!.id, d!.id);
  assert.ok(again!.leaseToken > d!.leaseToken);
  const stale = await recordOutcomes(t.db, [
    { id: d!.id, leaseToken: d!.leaseToken, status: "delivered", attempted: true },
  ], { now: at(32) });
  assert.deepEqual(stale.refused, [d!.id]);
  const fresh = await recordOutcomes(t.db, [
    { id: again!.id, leaseToken: again!.leaseToken, status: "delivered", attempted: true },
  ], { now: at(33) });
  assert.deepEqual(fresh.applied, [d!.id]);
});

Deno.test("reapAllExpiredLeases() goes on while batches come back full, up to maxBatches", async () => {
  await using t = await testDatabase();
  await insertMany(t.db, 7, "a.test", t0);
  await ingestOutbox(t.db, { now: t0 });
  assert.equal((await claim(t.db, t0, [["a.test", 10]], "dead")).length, 7);
  const bounded = await reapAllExpiredLeases(t.db, { now: at(31), limit: 2, maxBatches: 2 });
  assert.equal(bounded, 4, "two full batches, then it stops for this tick");
  assert.equal(await reapAllExpiredLeases(t.db, { now: at(31), limit: 2 }), 3, "the rest");
  assert.equal(await reapAllExpiredLeases(t.db, { now: at(31), limit: 2 }), 0);
  assert.equal((await countByStatus(t.db)).queued, 7);
});

Deno.test("reclaimOwnLeases() brings back the owner's own claims at once, and drops its leases", async () => {
  await using t = await testDatabase();
  await insertMany(t.db, 3, "a.test", t0);
  await ingestOutbox(t.db, { now: t0 });
  const [first, second] = await claim(t.db, t0, [["a.test", 2]], "me");
  const [theirs] = await claim(t.db, t0, [["a.test", 1]], "other");
  await recordOutcomes(t.db, [{
    id: second!.id,
    leaseToken: second!.leaseToken,
    status: "deferred",
    attempted: true,
    nextAttemptAt: t0,
  }], { now: t0 });
  const [again] = await claim(t.db, t0, [["a.test", 1]], "me");
  assert.equal(again!.id, second!.id);
  await acquireLeases(t.db, [domainLease("a.test")], { owner: "me", now: t0, ttlMs: 60_000 });
  await acquireLeases(t.db, [domainLease("b.test")], { owner: "other", now: t0, ttlMs: 60_000 });
  // Long before the 30 s leases run out.
  assert.equal(await reclaimOwnLeases(t.db, { owner: "me", now: at(1) }), 2);
  assert.equal((await statusOf(t.db, first!.id)).status, "queued", "never attempted");
  const back = await statusOf(t.db, second!.id);
  assert.equal(back.status, "deferred", "attempted once");
  assert.equal(back.lease_token, null);
  assert.equal((await statusOf(t.db, theirs!.id)).status, "sending", "another owner's claim stays");
  const leases = await t.db.selectFrom("ferry.leases").select("owner").execute();
  assert.deepEqual(leases, [{ owner: "other" }]);
});

Deno.test("releaseClaims() hands work back with a later due time and no attempt counted", async () => {
  await using t = await testDatabase();
  await put(t.db);
  await ingestOutbox(t.db, { now: t0 });
  const [d] = await claim(t.db, t0, [["example.test", 1]]);
  const r = await releaseClaims(t.db, [d!], { now: t0, nextAttemptAt: at(120) });
  assert.deepEqual(r.applied, [d!.id]);
  const row = await statusOf(t.db, d!.id);
  assert.equal(row.status, "queued");
  assert.equal(row.attempts, 0);
  assert.equal((await claim(t.db, at(119), [["example.test", 1]])).length, 0);
  assert.equal((await claim(t.db, at(120), [["example.test", 1]])).length, 1);
});

Deno.test("cancelMessage() cancels queued deliveries and reports in-flight ones", async () => {
  await using t = await testDatabase();
  const id = await put(t.db, { to_addresses: ["a@x.test", "b@y.test"] });
  await ingestOutbox(t.db, { now: t0 });
  await claim(t.db, t0, [["x.test", 1]]);
  const r = await cancelMessage(t.db, id, { now: t0 });
  assert.deepEqual(r, { cancelled: 1, inFlight: 1 });
  const counts = await countByStatus(t.db);
  assert.equal(counts.cancelled, 1);
  assert.equal(counts.sending, 1);
  assert.equal((await claim(t.db, t0, [["x.test", 10], ["y.test", 10]])).length, 0);
});

Deno.test({
  name: "claimDomains() from three claimers at once never hands out the same delivery",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    await insertMany(t.db, 3000, "a.test", at(-10));
    await insertMany(t.db, 3000, "b.test", at(-10));
    for (;;) if ((await ingestOutbox(t.db, { now: t0, limit: 2000 })).rows === 0) break;
    const other = await t.reopen();
    // Both pools connected before the race: a slow first connection must not let one
    // instance drain everything before the other has asked.
    await Promise.all([sql`SELECT 1`.execute(t.db), sql`SELECT 1`.execute(other.db)]);
    const ready = async () =>
      (await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM ferry.deliveries WHERE status IN ('queued', 'deferred')`
        .execute(t.db)).rows[0]!.n;
    // No destination leases here: the row locks (SKIP LOCKED) alone must keep the claims apart,
    // as they must while a lapsed lease changes hands. An empty claim while rows are still ready
    // means its candidates were all locked by the others at that moment: it asks again.
    const claimAll = async (db: Db, owner: string, order: [string, number][]) => {
      const ids: number[] = [];
      for (let i = 0; i < 1000; i++) {
        const got = await claim(db, t0, order, owner);
        if (got.length === 0 && await ready() === 0) break;
        ids.push(...got.map((d) => d.id));
      }
      return ids;
    };
    const [x, y, z] = await Promise.all([
      claimAll(t.db, "i1", [["a.test", 60], ["b.test", 40]]),
      claimAll(other.db, "i2", [["b.test", 60], ["a.test", 40]]),
      claimAll(t.db, "i3", [["a.test", 50], ["b.test", 50]]),
    ]);
    const all = [...x, ...y, ...z];
    assert.equal(new Set(all).size, all.length, "no delivery claimed twice");
    assert.equal(all.length, 6000, "every delivery claimed once");
    assert.ok(x.length > 0 && y.length > 0, "both instances got work");
  },
});
