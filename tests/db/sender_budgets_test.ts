import assert from "node:assert/strict";
import {
  loadSenderBudget,
  purgeSenderBudgets,
  reserveSenderBudget,
} from "../../db/sender_budgets.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";

const T0 = Date.UTC(2030, 2, 1, 10);
const TEN_PER_S = { count: 10, perMs: 1000 };
const HOURLY = { count: 1000, perMs: 3_600_000 };

Deno.test("reserveSenderBudget() hands out consecutive ranges of every rate, from now when idle", async () => {
  await using t = await testDatabase();
  assert.deepEqual(await reserveSenderBudget(t.db, "noisy.example", [TEN_PER_S, HOURLY], 5, T0), [
    { start: T0, end: T0 + 500 },
    { start: T0, end: T0 + 18_000 },
  ]);
  // The next one continues where the last ended, whoever asks.
  assert.deepEqual(await reserveSenderBudget(t.db, "noisy.example", [TEN_PER_S], 2, T0 + 100), [
    { start: T0 + 500, end: T0 + 700 },
  ]);
  // Long idle: the range starts now, the old TAT is not a credit.
  assert.deepEqual(await reserveSenderBudget(t.db, "noisy.example", [TEN_PER_S], 1, T0 + 60_000), [
    { start: T0 + 60_000, end: T0 + 60_100 },
  ]);
  assert.deepEqual(await loadSenderBudget(t.db, "noisy.example"), [
    { ...TEN_PER_S, tat: T0 + 60_100 },
    { ...HOURLY, tat: T0 + 18_000 },
  ]);
  // Another sender has its own timeline.
  assert.deepEqual(await reserveSenderBudget(t.db, "tenant:acme", [TEN_PER_S], 1, T0), [
    { start: T0, end: T0 + 100 },
  ]);
  await assert.rejects(
    () => reserveSenderBudget(t.db, "x.example", [TEN_PER_S], 0, T0),
    /'cells' must be an integer >= 1: current value is 0/,
  );
});

Deno.test({
  name: "reserveSenderBudget() from two connections at once never hands out overlapping ranges",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    const other = await t.reopen(); // closed with t
    const asks = [];
    for (let i = 0; i < 40; i++) {
      const db = i % 2 === 0 ? t.db : other.db;
      asks.push(reserveSenderBudget(db, "noisy.example", [TEN_PER_S, HOURLY], 3, T0));
    }
    for (let rate = 0; rate < 2; rate++) {
      const ranges = (await Promise.all(asks)).map((r) => r[rate]!)
        .sort((a, b) => a.start - b.start);
      for (let i = 1; i < ranges.length; i++) {
        assert.ok(
          ranges[i]!.start >= ranges[i - 1]!.end - 1e-6,
          `overlap at ${i} of rate ${rate}`,
        );
      }
      const span = rate === 0 ? 300 : 10_800;
      assert.ok(Math.abs(ranges.at(-1)!.end - (T0 + 40 * span)) < 1e-3, "no gap either");
    }
  },
});

Deno.test("purgeSenderBudgets() deletes rates nobody reserved since", async () => {
  await using t = await testDatabase();
  await reserveSenderBudget(t.db, "old.example", [TEN_PER_S], 1, T0);
  await reserveSenderBudget(t.db, "new.example", [TEN_PER_S], 1, T0 + 86_400_000);
  assert.equal(await purgeSenderBudgets(t.db, new Date(T0 + 3_600_000)), 1);
  assert.deepEqual(await loadSenderBudget(t.db, "old.example"), []);
  assert.equal((await loadSenderBudget(t.db, "new.example")).length, 1);
});
