import assert from "node:assert/strict";
import {
  type BounceMessageRow,
  insertBounceMessage,
  processedBounceUidls,
  purgeBounceMessages,
  unmatchedBounceMessages,
} from "../../db/bounces.ts";
import { testDatabase } from "../_support/db.ts";

const T = Date.UTC(2030, 0, 1);

function row(uidl: string, at: number, unmatched = 0): BounceMessageRow {
  return {
    mailbox: "bounces@pop:995",
    uidl,
    processedAt: new Date(at),
    kind: unmatched > 0 ? "unrecognised" : "bounce",
    matched: unmatched > 0 ? 0 : 1,
    unmatched,
    summary: { subject: uidl },
    raw: unmatched > 0 ? new Uint8Array([1, 2, 3]) : null,
  };
}

Deno.test("insertBounceMessage() writes a marker once per mailbox and UIDL", async () => {
  await using t = await testDatabase();
  assert.equal(await insertBounceMessage(t.db, row("u1", T)), true);
  assert.equal(await insertBounceMessage(t.db, row("u1", T + 1)), false);
  assert.equal(
    await insertBounceMessage(t.db, { ...row("u1", T), mailbox: "other@pop:995" }),
    true,
  );
  assert.deepEqual([...await processedBounceUidls(t.db, "bounces@pop:995", ["u1", "u2"])], ["u1"]);
  assert.deepEqual([...await processedBounceUidls(t.db, "bounces@pop:995", [])], []);
});

Deno.test("unmatchedBounceMessages() lists kept messages newest first, with their bytes", async () => {
  await using t = await testDatabase();
  await insertBounceMessage(t.db, row("u1", T, 1));
  await insertBounceMessage(t.db, row("u2", T + 1000));
  await insertBounceMessage(t.db, row("u3", T + 2000, 1));
  const kept = await unmatchedBounceMessages(t.db);
  assert.deepEqual(kept.map((k) => k.uidl), ["u3", "u1"]);
  assert.deepEqual(kept[0]!.raw, new Uint8Array([1, 2, 3]));
  assert.deepEqual(kept[0]!.summary, { subject: "u3" });
});

Deno.test("purgeBounceMessages() deletes markers older than the cut-off, in batches", async () => {
  await using t = await testDatabase();
  for (let i = 0; i < 5; i++) await insertBounceMessage(t.db, row(`u${i}`, T + i * 1000));
  assert.equal(await purgeBounceMessages(t.db, { before: new Date(T + 3500), limit: 3 }), 3);
  assert.equal(await purgeBounceMessages(t.db, { before: new Date(T + 3500), limit: 3 }), 1);
  assert.deepEqual(
    [...await processedBounceUidls(t.db, "bounces@pop:995", ["u0", "u3", "u4"])],
    ["u4"],
  );
});
