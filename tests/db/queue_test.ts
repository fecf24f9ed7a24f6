import assert from "node:assert/strict";
import { sql } from "kysely";
import { ingestOutbox } from "../../db/ingest.ts";
import {
  cancelMessage,
  claimDomain,
  claimDue,
  countByStatus,
  reapAllExpiredLeases,
  reapExpiredLeases,
  recordOutcomes,
  releaseClaims,
} from "../../db/queue.ts";
import type { Db } from "../../db/client.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";
import { insertMany, insertOutbox } from "../_support/outbox.ts";

// After any real now(): rows inserted with the default send_at are due at t0.
const t0 = new Date("2030-03-01T10:00:00Z");
const at = (s: number) => new Date(t0.getTime() + s * 1000);
const put = (db: Db, row: Parameters<typeof insertOutbox>[1] = {}) =>
  insertOutbox(db, { created_at: t0, send_at: t0, ...row });
const lease = { owner: "i1", leaseMs: 60_000 };

async function statusOf(db: Db, id: number) {
  return await db.selectFrom("ferry.deliveries").selectAll().where("id", "=", id)
    .executeTakeFirstOrThrow();
}

Deno.test("claimDue() orders by priority then due time and respects send_at", async () => {
  await using t = await testDatabase();
  await put(t.db, { to_addresses: ["low@a.test"], priority: 2, send_at: at(-30) });
  await put(t.db, { to_addresses: ["normal-old@a.test"], send_at: at(-20) });
  await put(t.db, { to_addresses: ["normal-new@a.test"], send_at: at(-10) });
  await put(t.db, { to_addresses: ["high@a.test"], priority: 0, send_at: at(-1) });
  await put(t.db, { to_addresses: ["future@a.test"], priority: 0, send_at: at(3600) });
  await ingestOutbox(t.db, { now: t0 });
  const r = await claimDue(t.db, { ...lease, now: t0, limit: 10 });
  assert.deepEqual(r.deliveries.map((d) => d.recipient), [
    "high@a.test",
    "normal-old@a.test",
    "normal-new@a.test",
    "low@a.test",
  ]);
  assert.ok(r.deliveries.every((d) => d.leaseToken === r.deliveries[0]!.leaseToken));
  const later = await claimDue(t.db, { ...lease, now: at(3600), limit: 10 });
  assert.deepEqual(later.deliveries.map((d) => d.recipient), ["future@a.test"]);
  assert.ok(later.deliveries[0]!.leaseToken > r.deliveries[0]!.leaseToken, "fencing tokens grow");
});

Deno.test("claimDue() does not let a domain with 100,000 due deliveries push out another's one", async () => {
  await using t = await testDatabase();
  await insertMany(t.db, 100_000, "huge.test", at(-3600));
  await put(t.db, { to_addresses: ["one@small.test"], send_at: at(-1) });
  for (;;) if ((await ingestOutbox(t.db, { now: t0, limit: 5000 })).rows === 0) break;
  const r = await claimDue(t.db, { ...lease, now: t0, limit: 20, perDomain: 10 });
  assert.ok(
    r.deliveries.some((d) => d.recipient === "one@small.test"),
    "the single mail is claimed",
  );
  assert.equal(
    r.deliveries.filter((d) => d.domain === "huge.test").length,
    10,
    "capped per domain",
  );
  // Even a claim of 2 gives each domain its first slot before any domain gets a second.
  await put(t.db, { to_addresses: ["two@small.test"], send_at: at(-1) });
  await ingestOutbox(t.db, { now: t0 });
  const tight = await claimDue(t.db, { ...lease, now: t0, limit: 2, perDomain: 10 });
  assert.deepEqual(tight.deliveries.map((d) => d.domain).sort(), ["huge.test", "small.test"]);
});

Deno.test("claimDue() rotates its domain cursor so every domain is reached", async () => {
  await using t = await testDatabase();
  for (const d of ["a", "b", "c", "d", "e"]) {
    await put(t.db, { to_addresses: [`x@${d}.test`], send_at: at(-1) });
  }
  await ingestOutbox(t.db, { now: t0 });
  const seen: string[] = [];
  let cursor = "";
  for (let i = 0; i < 3; i++) {
    const r = await claimDue(t.db, { ...lease, now: t0, limit: 10, maxDomains: 2, cursor });
    seen.push(...r.deliveries.map((d) => d.domain));
    cursor = r.cursor;
  }
  assert.deepEqual(seen, ["a.test", "b.test", "c.test", "d.test", "e.test"]);
  assert.equal(cursor, "", "the walk wraps once it reached the end");
});

Deno.test("claimDue() skips suspended domains until the suspension ends", async () => {
  await using t = await testDatabase();
  await put(t.db, { to_addresses: ["x@held.test"], send_at: at(-1) });
  await put(t.db, { to_addresses: ["x@free.test"], send_at: at(-1) });
  await ingestOutbox(t.db, { now: t0 });
  await t.db.insertInto("ferry.domain_suspensions")
    .values({ domain: "held.test", reason: "operator", until: at(600) }).execute();
  const r = await claimDue(t.db, { ...lease, now: t0, limit: 10 });
  assert.deepEqual(r.deliveries.map((d) => d.domain), ["free.test"]);
  const after = await claimDue(t.db, { ...lease, now: at(601), limit: 10 });
  assert.deepEqual(after.deliveries.map((d) => d.domain), ["held.test"]);
});

Deno.test("recordOutcomes() writes many outcomes and events in one call and refuses stale leases", async () => {
  await using t = await testDatabase();
  await put(t.db, { to_addresses: ["a@x.test", "b@x.test", "c@x.test", "d@x.test"] });
  await ingestOutbox(t.db, { now: t0 });
  const [a, b, c, d] = await claimDomain(t.db, { ...lease, domain: "x.test", now: t0, limit: 10 });
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
  const [d] = (await claimDue(t.db, { ...lease, now: t0, limit: 1 })).deliveries;
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
  const [d] =
    (await claimDue(t.db, { owner: "dead", leaseMs: 30_000, now: t0, limit: 1 })).deliveries;
  assert.equal((await claimDue(t.db, { ...lease, now: at(10), limit: 1 })).deliveries.length, 0);
  assert.equal(await reapExpiredLeases(t.db, { now: at(29) }), 0, "not before the lease ends");
  assert.equal(await reapExpiredLeases(t.db, { now: at(31) }), 1);
  const [again] = (await claimDue(t.db, { owner: "alive", leaseMs: 30_000, now: at(31), limit: 1 }))
    .deliveries;
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
  assert.equal(
    (await claimDue(t.db, { owner: "dead", leaseMs: 30_000, now: t0, limit: 10 })).deliveries
      .length,
    7,
  );
  const bounded = await reapAllExpiredLeases(t.db, { now: at(31), limit: 2, maxBatches: 2 });
  assert.equal(bounded, 4, "two full batches, then it stops for this tick");
  assert.equal(await reapAllExpiredLeases(t.db, { now: at(31), limit: 2 }), 3, "the rest");
  assert.equal(await reapAllExpiredLeases(t.db, { now: at(31), limit: 2 }), 0);
  assert.equal((await countByStatus(t.db)).queued, 7);
});

Deno.test("releaseClaims() hands work back with a later due time and no attempt counted", async () => {
  await using t = await testDatabase();
  await put(t.db);
  await ingestOutbox(t.db, { now: t0 });
  const [d] = (await claimDue(t.db, { ...lease, now: t0, limit: 1 })).deliveries;
  const r = await releaseClaims(t.db, [d!], { now: t0, nextAttemptAt: at(120) });
  assert.deepEqual(r.applied, [d!.id]);
  const row = await statusOf(t.db, d!.id);
  assert.equal(row.status, "queued");
  assert.equal(row.attempts, 0);
  assert.equal((await claimDue(t.db, { ...lease, now: at(119), limit: 1 })).deliveries.length, 0);
  assert.equal((await claimDue(t.db, { ...lease, now: at(120), limit: 1 })).deliveries.length, 1);
});

Deno.test("cancelMessage() cancels queued deliveries and reports in-flight ones", async () => {
  await using t = await testDatabase();
  const id = await put(t.db, { to_addresses: ["a@x.test", "b@y.test"] });
  await ingestOutbox(t.db, { now: t0 });
  await claimDomain(t.db, { ...lease, domain: "x.test", now: t0, limit: 1 });
  const r = await cancelMessage(t.db, id, { now: t0 });
  assert.deepEqual(r, { cancelled: 1, inFlight: 1 });
  const counts = await countByStatus(t.db);
  assert.equal(counts.cancelled, 1);
  assert.equal(counts.sending, 1);
  assert.equal((await claimDue(t.db, { ...lease, now: t0, limit: 10 })).deliveries.length, 0);
});

Deno.test({
  name: "claimDue() from two instances at once never hands out the same delivery",
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
    // Each claimer walks on from the cursor its last claim returned, as the relay does. An empty
    // claim while rows are still ready means its candidates were all locked by the others at
    // that moment (SKIP LOCKED): it asks again.
    const claimAll = async (db: Db, owner: string, cursor: string) => {
      const ids: number[] = [];
      for (let i = 0; i < 1000; i++) {
        const r = await claimDue(db, {
          owner,
          leaseMs: 60_000,
          now: t0,
          limit: 100,
          perDomain: 60,
          cursor,
        });
        cursor = r.cursor;
        if (r.deliveries.length === 0 && await ready() === 0) break;
        ids.push(...r.deliveries.map((d) => d.id));
      }
      return ids;
    };
    const [x, y, z] = await Promise.all([
      claimAll(t.db, "i1", ""),
      claimAll(other.db, "i2", "a.test"),
      claimAll(t.db, "i3", ""),
    ]);
    const all = [...x, ...y, ...z];
    assert.equal(new Set(all).size, all.length, "no delivery claimed twice");
    assert.equal(all.length, 6000, "every delivery claimed once");
    assert.ok(x.length > 0 && y.length > 0, "both instances got work");
  },
});
