import assert from "node:assert/strict";
import { ingestOutbox } from "../../db/ingest.ts";
import { testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";

const now = new Date("2026-03-01T10:00:00Z");

Deno.test("ingestOutbox() queues exactly the addresses written and rejects ambiguous ones, quoting them", async () => {
  await using t = await testDatabase();
  const id = await insertOutbox(t.db, {
    to_addresses: [
      "a b@v1.test",
      "alice@example.com bob@evil.test",
      "<a@x.test> b@y.test",
      '"a b"@example.org',
      '"Doe, John" <john+tag@mail.sub.example.org>',
    ],
  });
  await ingestOutbox(t.db, { now });
  const rows = await t.db.selectFrom("ferry.deliveries").select([
    "recipient",
    "status",
    "last_reply",
  ])
    .where("outbox_id", "=", id).orderBy("id").execute();
  assert.deepEqual(rows.map((r) => [r.recipient, r.status]), [
    ["a b@v1.test", "rejected"],
    ["alice@example.com bob@evil.test", "rejected"],
    ["<a@x.test> b@y.test", "rejected"],
    ['"a b"@example.org', "queued"],
    ["john+tag@mail.sub.example.org", "queued"],
  ]);
  for (const r of rows.filter((r) => r.status === "rejected")) {
    assert.ok(r.last_reply!.includes(JSON.stringify(r.recipient)), r.last_reply!);
  }
  // Nothing was sent to an address nobody wrote.
  const all = rows.map((r) => r.recipient);
  assert.ok(
    !all.includes("b@v1.test") && !all.includes("bob@evil.test") && !all.includes("b@y.test"),
  );
});
