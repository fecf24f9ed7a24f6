import assert from "node:assert/strict";
import { sql } from "kysely";
import { fanOutEvents, initWebhookCursor } from "../../../relay/webhooks/store.ts";
import type { Db } from "../../../db/client.ts";
import { testDatabase } from "../../_support/db.ts";

async function addEvents(db: Db, ids: number[]): Promise<void> {
  for (const id of ids) {
    await sql`INSERT INTO ferry.events (id, delivery_id, outbox_id, at, kind)
              OVERRIDING SYSTEM VALUE VALUES (${id}, ${id}, ${id}, now(), 'delivered')`.execute(db);
  }
}

async function notified(db: Db): Promise<number[]> {
  const { rows } = await sql<{ event_id: number }>`
    SELECT event_id FROM ferry.webhook_deliveries ORDER BY event_id`.execute(db);
  return rows.map((r) => Number(r.event_id));
}

Deno.test("fanOutEvents() waits at a missing event id, then steps over it after the grace period", async () => {
  await using t = await testDatabase();
  await addEvents(t.db, [1]);
  assert.equal(
    await initWebhookCursor(t.db, new Date(0)),
    1,
    "history before the start is skipped",
  );
  const gaps = new Map<number, number>();
  const base = {
    urls: ["http://a.test/h"],
    events: ["delivered"],
    limit: 100,
    gapWaitMs: 10_000,
    gaps,
  };
  const at = (ms: number) => ({ ...base, now: new Date(ms) });

  // 3 is missing: its transaction may still commit.
  await addEvents(t.db, [2, 4, 5]);
  let r = await fanOutEvents(t.db, at(1000));
  assert.deepEqual([r.events, r.rows, r.waitingOnGap], [1, 1, true]);
  assert.deepEqual(await notified(t.db), [2]);

  await addEvents(t.db, [3]); // it did
  r = await fanOutEvents(t.db, at(2000));
  assert.deepEqual([r.events, r.waitingOnGap], [3, false]);
  assert.deepEqual(await notified(t.db), [2, 3, 4, 5]);

  // 6 never comes (a rolled-back insert): waited for, then skipped.
  await addEvents(t.db, [7]);
  r = await fanOutEvents(t.db, at(3000));
  assert.deepEqual([r.events, r.waitingOnGap], [0, true]);
  r = await fanOutEvents(t.db, at(12_999));
  assert.equal(r.events, 0);
  r = await fanOutEvents(t.db, at(13_000));
  assert.deepEqual([r.events, r.waitingOnGap], [1, false]);
  assert.deepEqual(await notified(t.db), [2, 3, 4, 5, 7]);
  assert.equal(gaps.size, 0, "passed gaps are forgotten");

  // Kinds outside the endpoint's filter move the watermark but notify nobody.
  await sql`INSERT INTO ferry.events (id, delivery_id, outbox_id, at, kind)
            OVERRIDING SYSTEM VALUE VALUES (8, 8, 8, now(), 'requeued')`.execute(t.db);
  r = await fanOutEvents(t.db, at(14_000));
  assert.deepEqual([r.events, r.rows], [1, 0]);
});
