/**
 * pgQueue's record() gives synchronous bounces (5xx during the SMTP transaction) the same
 * bounce_class as asynchronous ones, from the enhanced status code or the reply text.
 */
import assert from "node:assert/strict";
import { ingestOutbox } from "../../../db/ingest.ts";
import { pgQueue } from "../../../relay/adapters/pg_queue.ts";
import { testDatabase } from "../../_support/db.ts";
import { insertOutbox } from "../../_support/outbox.ts";

const CASES: readonly { rcpt: string; code: number; enhanced?: string; reply: string }[] = [
  { rcpt: "a@x.test", code: 550, enhanced: "5.1.1", reply: "550 5.1.1 User unknown" },
  { rcpt: "b@x.test", code: 550, enhanced: "5.7.1", reply: "550 5.7.1 Blocked by policy" },
  { rcpt: "c@x.test", code: 552, enhanced: "5.2.2", reply: "552 5.2.2 Mailbox full" },
  { rcpt: "d@x.test", code: 552, enhanced: "5.3.4", reply: "552 5.3.4 Message too big" },
  { rcpt: "e@x.test", code: 550, reply: "550 mailbox unavailable: no such user here" },
];
const EXPECTED: Record<string, string | null> = {
  "a@x.test": "invalid_recipient",
  "b@x.test": "spam_or_policy",
  "c@x.test": "mailbox_full",
  "d@x.test": "message_too_large",
  "e@x.test": "invalid_recipient",
  "f@x.test": null,
};

Deno.test("pgQueue record() classifies synchronous 5xx bounces into bounce_class", async () => {
  await using t = await testDatabase();
  const now = Date.UTC(2030, 2, 1, 10);
  await insertOutbox(t.db, {
    to_addresses: Object.keys(EXPECTED),
    created_at: new Date(now),
    send_at: new Date(now),
  });
  await ingestOutbox(t.db, { now: new Date(now) });
  const queue = pgQueue({
    db: t.db,
    instance: "i1",
    deliveryLeaseMs: 120_000,
    domainLeaseMs: 15_000,
    suppressForMs: null,
  });
  assert.deepEqual(await queue.acquireDomains(["x.test"], now), ["x.test"]);
  const claimed = await queue.claimMany([{ domain: "x.test", limit: 10 }], now);
  assert.equal(claimed.length, 6);
  const byRcpt = new Map(claimed.map((d) => [d.recipient, d]));
  await queue.record([
    ...CASES.map((c) => ({
      delivery: byRcpt.get(c.rcpt)!,
      status: "bounced" as const,
      attempted: true,
      code: c.code,
      ...(c.enhanced ? { enhanced: c.enhanced } : {}),
      reply: c.reply,
    })),
    {
      delivery: byRcpt.get("f@x.test")!,
      status: "delivered" as const,
      attempted: true,
      code: 250,
      reply: "250 ok",
    },
  ], now);
  const rows = await t.db.selectFrom("ferry.deliveries").select(["recipient", "bounce_class"])
    .execute();
  assert.deepEqual(
    Object.fromEntries(rows.map((r) => [r.recipient, r.bounce_class])),
    EXPECTED,
  );
});
