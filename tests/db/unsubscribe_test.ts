/**
 * recordUnsubscribe(): a token's use, the scoped suppression and the event in one transaction;
 * a second use, even from another instance at the same moment, changes nothing.
 */
import assert from "node:assert/strict";
import { purgeUnsubscribeUses, recordUnsubscribe } from "../../db/unsubscribe.ts";
import { addSuppression } from "../../db/admin_queries.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";

const NOW = new Date(Date.UTC(2030, 0, 1));
const REQUEST = {
  deliveryId: 11,
  outboxId: 3,
  recipient: "Ada@Example.test",
  senderDomain: "News.test",
  via: "https" as const,
  now: NOW,
};

Deno.test("recordUnsubscribe() suppresses for the sender domain, records an event, and only once", async () => {
  await using t = await testDatabase();
  // A global entry of the same address is another row, left as it is.
  await addSuppression(t.db, { address: "ada@example.test", reason: "bounced", now: NOW });
  const first = await recordUnsubscribe(t.db, REQUEST);
  assert.equal(first.kind, "unsubscribed");
  const again = await recordUnsubscribe(t.db, { ...REQUEST, now: new Date(+NOW + 1000) });
  assert.deepEqual(again, { kind: "used", usedAt: NOW });

  const rows = await t.db.selectFrom("ferry.suppressions")
    .select(["address", "sender_domain", "source", "expires_at"]).orderBy("source").execute();
  assert.deepEqual(rows, [
    { address: "ada@example.test", sender_domain: null, source: "manual", expires_at: null },
    {
      address: "ada@example.test",
      sender_domain: "news.test",
      source: "unsubscribe",
      expires_at: null,
    },
  ]);
  const events = await t.db.selectFrom("ferry.events").select(["kind", "delivery_id", "outbox_id"])
    .execute();
  assert.deepEqual(events.map((e) => [e.kind, Number(e.delivery_id), Number(e.outbox_id)]), [
    ["unsubscribed", 11, 3],
  ]);
});

Deno.test({
  name: "recordUnsubscribe() from two instances at once accepts the token once",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    const other = await t.reopen();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => recordUnsubscribe(i % 2 ? other.db : t.db, REQUEST)),
    );
    assert.equal(results.filter((r) => r.kind === "unsubscribed").length, 1);
    assert.equal(results.filter((r) => r.kind === "used").length, 7);
    const events = await t.db.selectFrom("ferry.events").select("id").execute();
    assert.equal(events.length, 1);
  },
});

Deno.test("purgeUnsubscribeUses() forgets uses older than the cut-off only", async () => {
  await using t = await testDatabase();
  await recordUnsubscribe(t.db, REQUEST);
  await recordUnsubscribe(t.db, { ...REQUEST, deliveryId: 12, now: new Date(+NOW + 5000) });
  assert.equal(await purgeUnsubscribeUses(t.db, new Date(+NOW + 1000)), 1);
  const left = await t.db.selectFrom("ferry.unsubscribe_uses").select("delivery_id").execute();
  assert.deepEqual(left.map((r) => Number(r.delivery_id)), [12]);
});
