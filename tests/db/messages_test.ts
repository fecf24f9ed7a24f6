import assert from "node:assert/strict";
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
