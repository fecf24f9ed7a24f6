import assert from "node:assert/strict";
import type { KyselyPlugin } from "kysely";
import { ingestOutbox } from "../../db/ingest.ts";
import { acquireLeases, domainLease } from "../../db/leases.ts";
import type { Db } from "../../db/client.ts";
import { testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";

const now = new Date("2026-03-01T10:00:00Z");
const before = new Date(now.getTime() - 1000);

async function statuses(db: Db) {
  const rows = await db.selectFrom("ferry.deliveries")
    .select(["domain", "status", "lease_owner", "lease_token"]).orderBy("id").execute();
  return rows.map((r) => [r.domain, r.status, r.lease_owner, r.lease_token !== null]);
}

/** Claims up to 10 for every domain asked about, as an instance that believes it holds them all. */
const claimAll = (owner: string) => ({
  owner,
  leaseMs: 60_000,
  requests: (domains: readonly string[]) => domains.map((domain) => ({ domain, limit: 10 })),
});

Deno.test("ingestOutbox() with claim claims, in its own transaction, the new mail of a destination this instance holds", async () => {
  await using t = await testDatabase();
  await acquireLeases(t.db, [domainLease("held.test")], { owner: "me", now, ttlMs: 15_000 });
  await insertOutbox(t.db, {
    to_addresses: ["a@held.test", "b@free.test"],
    created_at: before,
    send_at: before,
  });
  const asked: string[][] = [];
  const r = await ingestOutbox(t.db, {
    now,
    claim: {
      owner: "me",
      leaseMs: 60_000,
      requests: (domains) => {
        asked.push([...domains].sort());
        return domains.filter((d) => d === "held.test").map((domain) => ({ domain, limit: 5 }));
      },
    },
  });
  assert.deepEqual(asked, [["free.test", "held.test"]]);
  assert.equal(r.queued, 2);
  assert.deepEqual(r.claimed.map((d) => [d.recipient, d.leaseToken > 0]), [["a@held.test", true]]);
  assert.deepEqual(await statuses(t.db), [
    ["held.test", "sending", "me", true],
    ["free.test", "queued", null, false],
  ]);
});

Deno.test("ingestOutbox() with claim claims nothing for a destination another instance holds (the lease is checked in the transaction)", async () => {
  await using t = await testDatabase();
  await acquireLeases(t.db, [domainLease("held.test")], { owner: "other", now, ttlMs: 15_000 });
  await insertOutbox(t.db, {
    to_addresses: ["a@held.test", "b@none.test"],
    created_at: before,
    send_at: before,
  });
  // This instance believes it holds both (its renewal has not run yet): the claim refuses.
  const r = await ingestOutbox(t.db, { now, claim: claimAll("me") });
  assert.deepEqual(r.claimed, []);
  assert.deepEqual(await statuses(t.db), [
    ["held.test", "queued", null, false],
    ["none.test", "queued", null, false],
  ]);
});

Deno.test("ingestOutbox() with claim asks nothing when the batch queues nothing", async () => {
  await using t = await testDatabase();
  await insertOutbox(t.db, {
    to_addresses: ["not an address"],
    created_at: before,
    send_at: before,
  });
  const r = await ingestOutbox(t.db, {
    now,
    claim: {
      owner: "me",
      leaseMs: 60_000,
      requests: () => assert.fail("asked for a batch that queued nothing"),
    },
  });
  assert.equal(r.rejected, 1);
  assert.deepEqual(r.claimed, []);
});

Deno.test("ingestOutbox() ingests without claiming when the claim itself fails", async () => {
  await using t = await testDatabase();
  await acquireLeases(t.db, [domainLease("held.test")], { owner: "me", now, ttlMs: 15_000 });
  await insertOutbox(t.db, { to_addresses: ["a@held.test"], created_at: before, send_at: before });
  // A request the claim statement refuses (leaseMs must be > 0) stands for a bug in claiming:
  // the rows are not poison, they are ingested and left to the supervisor.
  const r = await ingestOutbox(t.db, {
    now,
    isConnectionError: () => false,
    claim: { ...claimAll("me"), leaseMs: 0 },
  });
  assert.equal(r.queued, 1);
  assert.equal(r.rejected, 0);
  assert.deepEqual(r.claimed, []);
  assert.deepEqual(await statuses(t.db), [["held.test", "queued", null, false]]);
});

Deno.test("ingestOutbox() with claim carries each claimed message's content once, and its tenant tag", async () => {
  await using t = await testDatabase();
  await acquireLeases(t.db, [domainLease("held.test")], { owner: "me", now, ttlMs: 15_000 });
  const id = await insertOutbox(t.db, {
    to_addresses: ["a@held.test", "b@held.test"],
    metadata: JSON.stringify({ customer: "acme" }),
    created_at: before,
    send_at: before,
  });
  const r = await ingestOutbox(t.db, {
    now,
    claim: { ...claimAll("me"), withMessages: true, tenantKey: "customer" },
  });
  assert.deepEqual(r.claimed.map((d) => [d.recipient, d.tenant]), [
    ["a@held.test", "acme"],
    ["b@held.test", "acme"],
  ]);
  // The content travels with the first claimed delivery of the message only.
  assert.deepEqual(r.claimed.map((d) => d.message?.id), [id, undefined]);
  assert.deepEqual(r.claimed[0]!.message?.metadata, { customer: "acme" });
});

Deno.test("ingestOutbox() takes four statements for a batch it claims from: read, suppressions, write, claim", async () => {
  await using t = await testDatabase();
  await acquireLeases(t.db, [domainLease("held.test")], { owner: "me", now, ttlMs: 15_000 });
  for (const to of ["a@held.test", "b@held.test", "c@other.test"]) {
    await insertOutbox(t.db, { to_addresses: [to], created_at: before, send_at: before });
  }
  // Every statement the batch's transaction sends (BEGIN and COMMIT are the driver's, not these).
  const sent: string[] = [];
  const counting: KyselyPlugin = {
    transformQuery: (args) => {
      sent.push(args.node.kind);
      return args.node;
    },
    transformResult: (args) => Promise.resolve(args.result),
  };
  const r = await ingestOutbox(t.db.withPlugin(counting), { now, claim: claimAll("me") });
  assert.equal(r.rows, 3);
  assert.equal(r.claimed.length, 2);
  // Each is a round trip every new mail waits for before its SMTP transaction starts.
  assert.equal(sent.length, 4, `statements: ${sent.join(", ")}`);
  assert.deepEqual(await statuses(t.db), [
    ["held.test", "sending", "me", true],
    ["held.test", "sending", "me", true],
    ["other.test", "queued", null, false],
  ]);
});
