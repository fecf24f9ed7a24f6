import assert from "node:assert/strict";
import { ingestOutbox } from "../../db/ingest.ts";
import { loadMessage, loadMessages } from "../../db/messages.ts";
import { testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";

Deno.test("loadMessages() reads many rows in one statement, the same as loadMessage() each", async () => {
  await using t = await testDatabase();
  const a = await insertOutbox(t.db, { to_addresses: ["a@x.test"], subject: "A" });
  const b = await insertOutbox(t.db, { to_addresses: ["b@x.test"], subject: "B" });
  const rows = await loadMessages(t.db, [a, b, 999_999]);
  assert.deepEqual([...rows.keys()].sort(), [a, b].sort(), "a missing id is left out");
  assert.deepEqual(rows.get(a), await loadMessage(t.db, a));
  assert.equal(rows.get(b)!.subject, "B");
  assert.equal((await loadMessages(t.db, [])).size, 0);
});

Deno.test("require_tls flows from the outbox row through ingestion to the message loaded for sending", async () => {
  await using t = await testDatabase();
  // The application's INSERT of before migration 0006, naming no require_tls: false.
  const plain = await insertOutbox(t.db, { to_addresses: ["a@x.test"] });
  const strict = await insertOutbox(t.db, { to_addresses: ["b@x.test"], require_tls: true });
  const stored = await t.db.selectFrom("ferry.outbox").select(["id", "require_tls"])
    .orderBy("id").execute();
  const flags = new Map(stored.map((r) => [Number(r.id), r.require_tls]));
  assert.deepEqual([flags.get(plain), flags.get(strict)], [false, true]);

  const ingested = await ingestOutbox(t.db, { now: new Date() });
  assert.equal(ingested.queued, 2);
  const deliveries = await t.db.selectFrom("ferry.deliveries").select(["outbox_id", "status"])
    .orderBy("outbox_id").execute();
  assert.deepEqual(deliveries.map((d) => [Number(d.outbox_id), d.status]), [
    [plain, "queued"],
    [strict, "queued"],
  ]);

  const rows = await loadMessages(t.db, [plain, strict]);
  assert.equal(rows.get(plain)!.requireTls, false);
  assert.equal(rows.get(strict)!.requireTls, true);
  assert.equal((await loadMessage(t.db, strict))!.requireTls, true);
});
