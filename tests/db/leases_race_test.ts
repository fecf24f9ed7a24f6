/**
 * Lease statements of two instances at once: an acquire of one never deadlocks with a renewal,
 * release or restart-time reclaim of the other, however the lease rows lie in the table.
 */
import assert from "node:assert/strict";
import { acquireLeases, domainLease, releaseLeases, renewLeases } from "../../db/leases.ts";
import { reclaimOwnLeases } from "../../db/queue.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";

const t0 = new Date("2030-03-01T10:00:00Z").getTime();

Deno.test({
  name:
    "acquireLeases() racing the other instance's renewLeases(), releaseLeases() or reclaimOwnLeases() never deadlocks",
  ignore: serverOnly,
  async fn() {
    // An acquire locks every row it conflicts with, in name order. A renewal or release of the
    // same rows by their holder must not lock them in another order (the table's), or each can
    // end up waiting for the other. Table order is made to differ from name order by taking the
    // second half of the names before the first; many names make each statement long enough for
    // the two to overlap often.
    await using t = await testDatabase();
    const other = await t.reopen();
    const names = Array.from({ length: 400 }, (_, i) => domainLease(`n${i}.test`)).sort();
    const half = names.length / 2;
    const ttlMs = 600_000;
    const failures: string[] = [];
    const settle = async (ps: Promise<unknown>[]) => {
      for (const r of await Promise.allSettled(ps)) {
        if (r.status === "rejected") failures.push(String(r.reason));
      }
    };
    const held = async (owner: string) =>
      (await t.db.selectFrom("ferry.leases").select("name").where("owner", "=", owner).execute())
        .length;
    for (let round = 0; round < 90; round++) {
      const now = new Date(t0 + round * 1000);
      const lease = (owner: string) => ({ owner, now, ttlMs });
      await releaseLeases(other.db, names, "i2");
      await releaseLeases(t.db, names, "i1");
      await acquireLeases(t.db, names.slice(half), lease("i1"));
      await acquireLeases(t.db, names.slice(0, half), lease("i1"));
      let taken: string[] = [];
      // The holder renews, gives up, or (restarting) takes back all while the other asks for all.
      const mode = (["renew", "release", "reclaim"] as const)[round % 3]!;
      await settle([
        mode === "renew"
          ? renewLeases(t.db, names, lease("i1")).then((kept) =>
            assert.equal(kept.length, names.length, "every live lease renewed")
          )
          : mode === "release"
          ? releaseLeases(t.db, names, "i1")
          : reclaimOwnLeases(t.db, { owner: "i1", now }),
        acquireLeases(other.db, names, lease("i2")).then((got) => (taken = got)),
      ]);
      assert.deepEqual(failures, [], `round ${round} (${mode})`);
      if (mode === "renew") assert.deepEqual(taken, [], "a live lease is not taken");
      else assert.equal(await held("i1"), 0, `${mode}: i1 holds nothing afterwards`);
      assert.equal(await held("i2"), taken.length);
    }
  },
});
