import assert from "node:assert/strict";
import { ingestOutbox } from "../../db/ingest.ts";
import { recordOutcomes } from "../../db/queue.ts";
import { purgeFinished } from "../../db/retention.ts";
import { testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";
import { claimReady } from "../_support/queue.ts";

const t0 = new Date("2030-03-01T10:00:00Z");
const day = 24 * 3600 * 1000;

Deno.test("purgeFinished() removes old finished deliveries, their events and outbox rows in batches", async () => {
  await using t = await testDatabase();
  const old = new Date(t0.getTime() - 40 * day);
  for (let i = 0; i < 7; i++) {
    await insertOutbox(t.db, { to_addresses: [`d${i}@x.test`], created_at: old, send_at: old });
  }
  const pending = await insertOutbox(t.db, {
    to_addresses: ["p@x.test"],
    created_at: old,
    send_at: new Date(t0.getTime() + day),
  });
  await ingestOutbox(t.db, { now: old });
  const claimed = await claimReady(t.db, { owner: "i", leaseMs: 1000, now: old, limit: 100 });
  assert.equal(claimed.length, 7);
  await recordOutcomes(
    t.db,
    claimed.map((d) => ({
      id: d.id,
      leaseToken: d.leaseToken,
      status: "delivered" as const,
      attempted: true,
    })),
    { now: old },
  );
  const r = await purgeFinished(t.db, { before: new Date(t0.getTime() - 30 * day), batchSize: 3 });
  assert.deepEqual(r, { deliveries: 7, events: 7, outbox: 7, complete: true });
  const left = await t.db.selectFrom("ferry.deliveries").select(["outbox_id", "status"]).execute();
  assert.deepEqual(left, [{ outbox_id: pending, status: "queued" }], "unfinished work is kept");
  const bounded = await purgeFinished(t.db, { before: t0, batchSize: 1, maxBatches: 0 });
  assert.equal(bounded.complete, false);
});
