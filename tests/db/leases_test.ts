import assert from "node:assert/strict";
import { ingestOutbox } from "../../db/ingest.ts";
import { acquireLeases, domainLease, releaseLeases, renewLeases } from "../../db/leases.ts";
import { claimDomains, readyDomains } from "../../db/queue.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";

const t0 = new Date("2030-03-01T10:00:00Z");
const at = (s: number) => new Date(t0.getTime() + s * 1000);
const ttlMs = 10_000;

Deno.test("acquireLeases() grants a free lease once, and again only after it expired", async () => {
  await using t = await testDatabase();
  const a = domainLease("a.test");
  assert.deepEqual(await acquireLeases(t.db, [a], { owner: "i1", now: t0, ttlMs }), [a]);
  assert.deepEqual(await acquireLeases(t.db, [a], { owner: "i2", now: at(5), ttlMs }), []);
  assert.deepEqual(await renewLeases(t.db, [a], { owner: "i1", now: at(9), ttlMs }), [a]);
  assert.deepEqual(
    await acquireLeases(t.db, [a], { owner: "i2", now: at(18), ttlMs }),
    [],
    "renewed",
  );
  assert.deepEqual(
    await acquireLeases(t.db, [a], { owner: "i2", now: at(20), ttlMs }),
    [a],
    "expired",
  );
  assert.deepEqual(
    await renewLeases(t.db, [a], { owner: "i1", now: at(21), ttlMs }),
    [],
    "i1 lost it",
  );
  await releaseLeases(t.db, [a], "i2");
  assert.deepEqual(await acquireLeases(t.db, [a], { owner: "i1", now: at(21), ttlMs }), [a]);
});

Deno.test("claimDomains() with a holder claims only while the holder has the destination's lease", async () => {
  await using t = await testDatabase();
  // Two messages: a claim of one message leaves the other ready, so a refusal below is the
  // lease's doing, not an empty queue.
  for (const to of ["x@a.test", "y@a.test"]) {
    await insertOutbox(t.db, { to_addresses: [to], created_at: t0, send_at: t0 });
  }
  await ingestOutbox(t.db, { now: t0 });
  const claim = (holder: string, now: Date) =>
    claimDomains(t.db, {
      requests: [{ domain: "a.test", limit: 1 }],
      owner: holder,
      holder,
      leaseMs: 60_000,
      now,
    });
  assert.equal((await claim("i1", t0)).length, 0, "no lease, no claim");
  await acquireLeases(t.db, [domainLease("a.test")], { owner: "i1", now: t0, ttlMs });
  const [d] = await claim("i1", t0);
  assert.equal(d?.recipient, "x@a.test");
  assert.equal(d?.leaseExpiresAt.getTime(), t0.getTime() + 60_000);
  assert.equal((await claim("i2", t0)).length, 0, "another instance cannot claim");
  assert.equal((await claim("i1", at(11))).length, 0, "an expired lease claims nothing");
  await acquireLeases(t.db, [domainLease("a.test")], { owner: "i1", now: at(11), ttlMs });
  assert.equal((await claim("i1", at(11)))[0]?.recipient, "y@a.test", "the other was still due");
});

Deno.test("readyDomains() lists destinations with due work that are not suspended or leased elsewhere", async () => {
  await using t = await testDatabase();
  for (const d of ["a", "b", "c", "d"]) {
    await insertOutbox(t.db, { to_addresses: [`x@${d}.test`], created_at: t0, send_at: t0 });
  }
  await insertOutbox(t.db, { to_addresses: ["x@later.test"], created_at: t0, send_at: at(3600) });
  await ingestOutbox(t.db, { now: t0 });
  await t.db.insertInto("ferry.domain_suspensions").values({
    domain: "b.test",
    reason: "r",
    until: at(60),
  })
    .execute();
  await acquireLeases(t.db, [domainLease("c.test")], { owner: "other", now: t0, ttlMs });
  await acquireLeases(t.db, [domainLease("d.test")], { owner: "me", now: t0, ttlMs });
  const r = await readyDomains(t.db, { cursor: "", limit: 10, now: t0, owner: "me" });
  assert.deepEqual(r, { domains: ["a.test", "d.test"], cursor: "" });
  const page = await readyDomains(t.db, { cursor: "", limit: 2, now: t0, owner: "me" });
  assert.deepEqual(page, { domains: ["a.test"], cursor: "b.test" });
  const next = await readyDomains(t.db, { cursor: page.cursor, limit: 2, now: t0, owner: "me" });
  assert.deepEqual(next.domains, ["d.test"]);
});

Deno.test({
  name: "acquireLeases() from two instances at once grants each lease to exactly one",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    const other = await t.reopen();
    const names = Array.from({ length: 200 }, (_, i) => domainLease(`d${i}.test`));
    const [a, b] = await Promise.all([
      acquireLeases(t.db, names, { owner: "i1", now: t0, ttlMs }),
      acquireLeases(other.db, [...names].reverse(), { owner: "i2", now: t0, ttlMs }),
    ]);
    assert.equal(a.length + b.length, names.length);
    assert.equal(new Set([...a, ...b]).size, names.length);
  },
});
