/**
 * claimDomains() with `withMessages`: the claim statement also returns each claimed message's
 * outbox row, once per message, so sending reads no content with a statement of its own.
 */
import assert from "node:assert/strict";
import { ingestOutbox } from "../../db/ingest.ts";
import { claimDomains } from "../../db/queue.ts";
import { loadMessages } from "../../db/messages.ts";
import { testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";

const t0 = new Date("2030-03-01T10:00:00Z");

Deno.test("claimDomains() with withMessages returns each message's outbox row once, as loadMessages() reads it", async () => {
  await using t = await testDatabase();
  const wide = await insertOutbox(t.db, {
    to_addresses: ["a@one.test", "b@one.test", "c@one.test"],
    subject: "three at one",
    html_body: "<p>hi</p>",
    headers: { "X-Campaign": "c1" },
    created_at: t0,
    send_at: t0,
  });
  const raw = new TextEncoder().encode("From: s@ferry.test\r\nTo: d@two.test\r\n\r\nraw body\r\n");
  const rawId = await insertOutbox(t.db, {
    to_addresses: ["d@two.test"],
    subject: null,
    text_body: null,
    raw_message: raw,
    created_at: t0,
    send_at: t0,
  });
  await ingestOutbox(t.db, { now: t0 });
  const got = await claimDomains(t.db, {
    requests: [{ domain: "one.test", limit: 10 }, { domain: "two.test", limit: 10 }],
    owner: "i1",
    leaseMs: 30_000,
    now: t0,
    withMessages: true,
  });
  assert.equal(got.length, 4);
  const carried = got.filter((d) => d.message !== undefined);
  assert.deepEqual(
    carried.map((d) => d.outboxId).sort(),
    [wide, rawId].sort(),
    "one row per message, however many recipients were claimed",
  );
  const stored = await loadMessages(t.db, [wide, rawId]);
  for (const d of carried) assert.deepEqual(d.message, stored.get(d.outboxId));
  assert.deepEqual(carried.find((d) => d.outboxId === rawId)!.message!.raw, raw);

  const plain = await claimDomains(t.db, {
    requests: [{ domain: "one.test", limit: 10 }],
    owner: "i1",
    leaseMs: 30_000,
    now: new Date(t0.getTime() + 60_000),
  });
  assert.ok(plain.every((d) => d.message === undefined), "no content without withMessages");
});
