/**
 * claimDomains() claims whole messages: the cap never cuts one message's recipients at one
 * destination apart, so they can travel in one SMTP transaction; two instances racing on one
 * PostgreSQL never claim a delivery twice, share a destination or split a message.
 */
import assert from "node:assert/strict";
import { ingestOutbox } from "../../db/ingest.ts";
import { acquireLeases, domainLease } from "../../db/leases.ts";
import { claimDomains, type ClaimedDelivery } from "../../db/queue.ts";
import type { Db } from "../../db/client.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";

const t0 = new Date("2030-03-01T10:00:00Z");
const rcpts = (n: number, domain: string, tag: string) =>
  Array.from({ length: n }, (_, i) => `${tag}${i}@${domain}`);

async function put(db: Db, to: string[]) {
  await insertOutbox(db, { to_addresses: to, created_at: t0, send_at: t0 });
}

function byMessage(claimed: readonly ClaimedDelivery[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const d of claimed) m.set(d.outboxId, (m.get(d.outboxId) ?? 0) + 1);
  return m;
}

Deno.test("claimDomains() extends the cap to complete the last message's recipients", async () => {
  await using t = await testDatabase();
  await put(t.db, rcpts(150, "a.test", "x"));
  await put(t.db, rcpts(30, "a.test", "y"));
  await ingestOutbox(t.db, { now: t0 });
  const claimed = await claimDomains(t.db, {
    requests: [{ domain: "a.test", limit: 10 }],
    owner: "i1",
    now: t0,
    leaseMs: 60_000,
  });
  assert.deepEqual([...byMessage(claimed).values()], [150], "the first message whole, alone");
  const next = await claimDomains(t.db, {
    requests: [{ domain: "a.test", limit: 1 }],
    owner: "i1",
    now: t0,
    leaseMs: 60_000,
  });
  assert.deepEqual([...byMessage(next).values()], [30]);
});

Deno.test({
  name:
    "claimDomains() from two instances never claims twice, shares a destination or splits a message",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    const domains = ["a.test", "b.test", "c.test"];
    for (let m = 0; m < 12; m++) {
      await put(t.db, domains.flatMap((d) => rcpts(7 + m, d, `m${m}r`)));
    }
    await ingestOutbox(t.db, { now: t0 });
    const total = 3 * Array.from({ length: 12 }, (_, m) => 7 + m).reduce((a, b) => a + b);
    const other = await t.reopen();
    const instances = [{ db: t.db, owner: "i1" }, { db: other.db, owner: "i2" }];
    const claims: { owner: string; d: ClaimedDelivery }[] = [];
    // Both instances race for leases and claims, a bounded number of rounds, small caps.
    for (let round = 0; round < 40 && claims.length < total; round++) {
      const results = await Promise.all(instances.map(async ({ db, owner }) => {
        const now = new Date(t0.getTime() + round);
        await acquireLeases(db, domains.map(domainLease), { owner, now, ttlMs: 600_000 });
        const got = await claimDomains(db, {
          requests: domains.map((domain) => ({ domain, limit: 3 })),
          owner,
          holder: owner,
          now,
          leaseMs: 600_000,
        });
        return got.map((d) => ({ owner, d }));
      }));
      claims.push(...results.flat());
    }
    await other.close();
    const ids = claims.map((c) => c.d.id);
    assert.equal(new Set(ids).size, ids.length, "no delivery claimed twice");
    assert.equal(ids.length, total, "every delivery claimed");
    const servedBy = new Map<string, Set<string>>();
    const messageAt = new Map<string, Set<string>>();
    for (const { owner, d } of claims) {
      servedBy.set(d.domain, (servedBy.get(d.domain) ?? new Set()).add(owner));
      const key = `${d.outboxId}@${d.domain}`;
      messageAt.set(key, (messageAt.get(key) ?? new Set()).add(`${owner}:${d.leaseToken}`));
    }
    for (const [domain, owners] of servedBy) {
      assert.equal(owners.size, 1, `${domain} served by one instance`);
    }
    for (const [key, claimsOf] of messageAt) {
      assert.equal(claimsOf.size, 1, `message ${key} claimed in one piece`);
    }
  },
});
