import assert from "node:assert/strict";
import {
  loadDestinationStates,
  purgeDestinationStates,
  saveDestinationStates,
} from "../../db/destination_state.ts";
import { acquireLeases, domainLease, releaseLeases } from "../../db/leases.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";

const t0 = new Date("2030-03-01T10:00:00Z");
const at = (s: number) => new Date(t0.getTime() + s * 1000);
const ttlMs = 10_000;
const lease = domainLease("a.test");

Deno.test("saveDestinationStates() writes while the owner holds the lease; loadDestinationStates() reads it back", async () => {
  await using t = await testDatabase();
  assert.deepEqual(await acquireLeases(t.db, [lease], { owner: "i1", now: t0, ttlMs }), [lease]);
  const state = { version: 1, rates: [{ count: 100, perMs: 61_200, tat: t0.getTime() + 612 }] };
  const r = await saveDestinationStates(t.db, [{ key: "a.test", lease, state }], {
    owner: "i1",
    now: at(1),
  });
  assert.deepEqual(r, { saved: ["a.test"], refused: [] });
  const rows = await loadDestinationStates(t.db, ["a.test", "unknown.test"]);
  assert.deepEqual(rows, [{ key: "a.test", state, owner: "i1", updatedAt: at(1) }]);
  // Written again: replaced, not added.
  const later = { ...state, rates: [] };
  await saveDestinationStates(t.db, [{ key: "a.test", lease, state: later }], {
    owner: "i1",
    now: at(2),
  });
  assert.deepEqual((await loadDestinationStates(t.db, ["a.test"]))[0]?.state, later);
  assert.deepEqual(await loadDestinationStates(t.db, []), []);
});

Deno.test("saveDestinationStates() refuses a stale owner: its lease expired and another instance took it", async () => {
  await using t = await testDatabase();
  await acquireLeases(t.db, [lease], { owner: "i1", now: t0, ttlMs });
  // i1 stalls past its lease; i2 takes the destination over and saves what it sent.
  assert.deepEqual(await acquireLeases(t.db, [lease], { owner: "i2", now: at(11), ttlMs }), [
    lease,
  ]);
  const fresh = { version: 1, by: "i2" };
  assert.deepEqual(
    await saveDestinationStates(t.db, [{ key: "a.test", lease, state: fresh }], {
      owner: "i2",
      now: at(12),
    }),
    { saved: ["a.test"], refused: [] },
  );
  // i1 wakes up and flushes what it had in memory, on its own (late) clock or on the real one.
  for (const now of [at(5), at(13)]) {
    const r = await saveDestinationStates(
      t.db,
      [{ key: "a.test", lease, state: { version: 1, by: "i1" } }],
      { owner: "i1", now },
    );
    assert.deepEqual(r, { saved: [], refused: ["a.test"] });
  }
  const [row] = await loadDestinationStates(t.db, ["a.test"]);
  assert.deepEqual([row?.state, row?.owner], [fresh, "i2"]);
});

Deno.test("saveDestinationStates() refuses an expired lease nobody took, and a released one", async () => {
  await using t = await testDatabase();
  await acquireLeases(t.db, [lease], { owner: "i1", now: t0, ttlMs });
  const write = [{ key: "a.test", lease, state: { version: 1 } }];
  assert.deepEqual(
    (await saveDestinationStates(t.db, write, { owner: "i1", now: at(10) })).refused,
    ["a.test"],
    "expired at 10 s",
  );
  await acquireLeases(t.db, [lease], { owner: "i1", now: at(20), ttlMs });
  await releaseLeases(t.db, [lease], "i1");
  assert.deepEqual(
    (await saveDestinationStates(t.db, write, { owner: "i1", now: at(21) })).refused,
    ["a.test"],
    "released",
  );
  assert.deepEqual(await loadDestinationStates(t.db, ["a.test"]), []);
});

Deno.test("saveDestinationStates() decides each row of a batch by its own lease; a key given twice keeps its last state", async () => {
  await using t = await testDatabase();
  const b = domainLease("b.test");
  await acquireLeases(t.db, [lease], { owner: "i1", now: t0, ttlMs });
  await acquireLeases(t.db, [b], { owner: "i2", now: t0, ttlMs });
  const r = await saveDestinationStates(t.db, [
    { key: "mx:mx.a.test", lease, state: { n: 1 } },
    { key: "b.test", lease: b, state: { n: 2 } },
    { key: "mx:mx.a.test", lease, state: { n: 3 } },
  ], { owner: "i1", now: at(1) });
  assert.deepEqual(r, { saved: ["mx:mx.a.test"], refused: ["b.test"] });
  const rows = await loadDestinationStates(t.db, ["mx:mx.a.test", "b.test"]);
  assert.deepEqual(rows.map((x) => [x.key, x.state]), [["mx:mx.a.test", { n: 3 }]]);
});

Deno.test("purgeDestinationStates() deletes the rows last written before the cutoff", async () => {
  await using t = await testDatabase();
  await acquireLeases(t.db, [lease], { owner: "i1", now: t0, ttlMs: 3_600_000 });
  const save = (key: string, now: Date) =>
    saveDestinationStates(t.db, [{ key, lease, state: {} }], { owner: "i1", now });
  await save("old.test", at(0));
  await save("new.test", at(100));
  assert.equal(await purgeDestinationStates(t.db, at(50)), 1);
  assert.deepEqual(
    (await loadDestinationStates(t.db, ["old.test", "new.test"])).map((x) => x.key),
    ["new.test"],
  );
});

Deno.test({
  name:
    "saveDestinationStates() racing an acquire of the same lease never lands after the new owner's write",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    const other = await t.reopen();
    for (let round = 0; round < 20; round++) {
      const key = `race${round}.test`;
      const name = domainLease(key);
      await acquireLeases(t.db, [name], { owner: "i1", now: at(round * 100), ttlMs });
      const expired = at(round * 100 + 11);
      // i2 takes the expired lease and writes, while i1 (its clock behind) flushes at once.
      const [stale] = await Promise.all([
        saveDestinationStates(t.db, [{ key, lease: name, state: { by: "i1" } }], {
          owner: "i1",
          now: at(round * 100 + 5),
        }),
        (async () => {
          await acquireLeases(other.db, [name], { owner: "i2", now: expired, ttlMs });
          await saveDestinationStates(other.db, [{ key, lease: name, state: { by: "i2" } }], {
            owner: "i2",
            now: expired,
          });
        })(),
      ]);
      const [row] = await loadDestinationStates(t.db, [key]);
      assert.deepEqual(row?.state, { by: "i2" }, `round ${round}: i1 saved ${stale.saved}`);
    }
  },
});
