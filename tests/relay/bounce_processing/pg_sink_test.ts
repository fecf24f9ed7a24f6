/**
 * PgBounceSink against real PostgreSQL (PGlite without a server): the sink contract shared with
 * the in-memory fake, then matching (VERP, Message-ID + recipient) and what each kind of
 * outcome changes.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import type {
  Bounce,
  BounceOutcome,
  BounceReport,
  Complaint,
} from "../../../relay/bounce_parsing/mod.ts";
import { PgBounceSink } from "../../../relay/bounce_processing/pg_sink.ts";
import { messageIdFor } from "../../../relay/mime/message_id.ts";
import { ingestOutbox } from "../../../db/ingest.ts";
import { unmatchedBounceMessages } from "../../../db/bounces.ts";
import { type TestDatabase, testDatabase } from "../../_support/db.ts";
import { insertOutbox } from "../../_support/outbox.ts";
import { bounceSinkContract } from "./_sink_contract.ts";

const DAY = 86_400_000;
const T = Date.UTC(2030, 0, 10, 12);
const SUPPRESSION = { hardBounceMs: 180 * DAY, complaintMs: null };

bounceSinkContract("PgBounceSink", async () => {
  const t = await testDatabase();
  return {
    sink: new PgBounceSink(t.db, { suppression: SUPPRESSION }),
    [Symbol.asyncDispose]: () => t[Symbol.asyncDispose](),
  };
});

interface Fixture extends AsyncDisposable {
  readonly t: TestDatabase;
  readonly sink: PgBounceSink;
  readonly outboxId: number;
  readonly messageId: string;
  /** Delivery ids by recipient: ada (delivered), bob (deferred). */
  readonly ids: { readonly ada: number; readonly bob: number };
}

async function fixture(): Promise<Fixture> {
  const t = await testDatabase();
  const createdAt = new Date(T - DAY);
  const outboxId = await insertOutbox(t.db, {
    to_addresses: ["Ada <ada@example.org>", "bob@example.org"],
    created_at: createdAt,
  });
  await ingestOutbox(t.db, { now: createdAt });
  const rows = await t.db.selectFrom("ferry.deliveries").select(["id", "recipient"])
    .orderBy("id").execute();
  const id = (r: string) => Number(rows.find((x) => x.recipient === r)!.id);
  const ids = { ada: id("ada@example.org"), bob: id("bob@example.org") };
  await sql`UPDATE ferry.deliveries SET status = 'delivered', last_code = 250,
              last_reply = '250 2.0.0 queued', delivered_at = ${createdAt}
             WHERE id = ${ids.ada}`.execute(t.db);
  await sql`UPDATE ferry.deliveries SET status = 'deferred', attempts = 1
             WHERE id = ${ids.bob}`.execute(t.db);
  return {
    t,
    sink: new PgBounceSink(t.db, { suppression: SUPPRESSION, instance: "i1" }),
    outboxId,
    messageId: messageIdFor(outboxId, createdAt.getTime(), "relay.test"),
    ids,
    [Symbol.asyncDispose]: () => t[Symbol.asyncDispose](),
  };
}

function bounce(extra: Partial<Bounce> = {}): Bounce {
  return {
    kind: "bounce",
    recipient: "ada@example.org",
    status: "5.1.1",
    diagnostic: "550 5.1.1 <ada@example.org>: Recipient address rejected: User unknown",
    action: "failed",
    class: "invalid_recipient",
    hard: true,
    reportingMta: "mx.example.net",
    ...extra,
  };
}

function complaint(extra: Partial<Complaint> = {}): Complaint {
  return { kind: "complaint", feedbackType: "abuse", userAgent: "SomeISP-FBL/1.0", ...extra };
}

function record(uidl: string, ...outcomes: [BounceOutcome, ...BounceOutcome[]]) {
  const report: BounceReport = {
    outcomes,
    subject: "Undelivered Mail Returned to Sender",
    from: "MAILER-DAEMON@mx.example.net",
  };
  return {
    mailbox: "bounces@pop.test:995",
    uidl,
    report,
    raw: new TextEncoder().encode(`Subject: ${report.subject}\r\n\r\nraw ${uidl}\r\n`),
    retrievedAt: T,
  };
}

async function delivery(t: TestDatabase, id: number) {
  return await t.db.selectFrom("ferry.deliveries").selectAll().where("id", "=", id)
    .executeTakeFirstOrThrow();
}

async function events(t: TestDatabase) {
  const { rows } = await sql<{ delivery_id: number; kind: string; code: number | null }>`
    SELECT delivery_id, kind, code FROM ferry.events ORDER BY id`.execute(t.db);
  return rows.map((r) => ({ ...r, delivery_id: Number(r.delivery_id) }));
}

async function suppressions(t: TestDatabase) {
  return await t.db.selectFrom("ferry.suppressions").selectAll().orderBy("address").execute();
}

Deno.test("PgBounceSink.record() bounces a delivered delivery named by VERP and suppresses it", async () => {
  await using f = await fixture();
  const result = await f.sink.record(record("u1", bounce({ verpId: String(f.ids.ada) })));
  assert.deepEqual(result, { kind: "recorded", matched: 1, unmatched: 0 });

  const d = await delivery(f.t, f.ids.ada);
  assert.equal(d.status, "bounced");
  assert.equal(d.bounce_class, "invalid_recipient");
  assert.equal(d.last_code, 550);
  assert.equal(
    d.last_reply,
    "550 5.1.1 <ada@example.org>: Recipient address rejected: User unknown",
  );
  assert.ok(d.delivered_at, "when it was accepted stays known");
  assert.deepEqual(await events(f.t), [{ delivery_id: f.ids.ada, kind: "bounced", code: 550 }]);
  const [s, ...more] = await suppressions(f.t);
  assert.equal(more.length, 0);
  assert.equal(s!.address, "ada@example.org");
  assert.equal(s!.source, "bounce");
  assert.match(s!.reason, /User unknown/);
  assert.equal(new Date(s!.expires_at!).getTime(), T + 180 * DAY);
  assert.equal(
    (await f.t.db.selectFrom("ferry.deliveries").select("status")
      .where("id", "=", f.ids.bob).executeTakeFirstOrThrow()).status,
    "deferred",
  );
});

Deno.test("PgBounceSink.record() matches a Ferry Message-ID and the reported recipient", async () => {
  await using f = await fixture();
  const result = await f.sink.record(record(
    "u1",
    bounce({ recipient: "Bob@Example.org", originalMessageId: f.messageId }),
  ));
  assert.deepEqual(result, { kind: "recorded", matched: 1, unmatched: 0 });
  assert.equal((await delivery(f.t, f.ids.bob)).status, "bounced", "a retry is stopped too");
  assert.equal((await delivery(f.t, f.ids.ada)).status, "delivered");
  assert.deepEqual((await suppressions(f.t)).map((s) => s.address), ["bob@example.org"]);
});

Deno.test("PgBounceSink.record() keeps a Message-ID whose hash does not verify unmatched", async () => {
  await using f = await fixture();
  const forged = f.messageId.replace(/\.[0-9a-f]{16}@/, ".0123456789abcdef@");
  const result = await f.sink.record(record("u1", bounce({ originalMessageId: forged })));
  assert.deepEqual(result, { kind: "recorded", matched: 0, unmatched: 1 });
  assert.equal((await delivery(f.t, f.ids.ada)).status, "delivered");
  assert.deepEqual(await events(f.t), []);
  assert.deepEqual(await suppressions(f.t), []);
  const [kept] = await unmatchedBounceMessages(f.t.db);
  assert.equal(kept!.uidl, "u1");
  assert.equal(kept!.kind, "bounce");
  assert.equal(
    new TextDecoder().decode(kept!.raw!),
    "Subject: Undelivered Mail Returned to " +
      "Sender\r\n\r\nraw u1\r\n",
  );
});

Deno.test("PgBounceSink.record() falls back to the Message-ID when the VERP id is unknown", async () => {
  await using f = await fixture();
  const result = await f.sink.record(record(
    "u1",
    bounce({ verpId: "999999", originalMessageId: f.messageId }),
  ));
  assert.deepEqual(result, { kind: "recorded", matched: 1, unmatched: 0 });
  assert.equal((await delivery(f.t, f.ids.ada)).status, "bounced");
});

Deno.test("PgBounceSink.record() bounces a full mailbox unsuppressed, and only notes a delay", async () => {
  await using f = await fixture();
  const full = bounce({
    verpId: String(f.ids.ada),
    status: "5.2.2",
    diagnostic: "552 5.2.2 Mailbox full",
    class: "mailbox_full",
    hard: false,
  });
  const delayed = bounce({
    verpId: String(f.ids.bob),
    status: "4.4.1",
    diagnostic: "connect to mx1.example.org: Connection timed out",
    action: "delayed",
    class: "dns",
    hard: false,
  });
  const result = await f.sink.record(record("u1", full, delayed));
  assert.deepEqual(result, { kind: "recorded", matched: 2, unmatched: 0 });
  const ada = await delivery(f.t, f.ids.ada);
  assert.equal(ada.status, "bounced");
  assert.equal(ada.bounce_class, "mailbox_full");
  assert.equal((await delivery(f.t, f.ids.bob)).status, "deferred");
  assert.deepEqual(await events(f.t), [
    { delivery_id: f.ids.ada, kind: "bounced", code: 552 },
    { delivery_id: f.ids.bob, kind: "bounce_delayed", code: 450 },
  ]);
  assert.deepEqual(await suppressions(f.t), []);
});

Deno.test("PgBounceSink.record() bounces a spam block without suppressing the address", async () => {
  await using f = await fixture();
  await f.sink.record(record(
    "u1",
    bounce({
      verpId: String(f.ids.ada),
      status: "5.7.1",
      diagnostic: "550 5.7.1 Message rejected as spam",
      class: "spam_or_policy",
    }),
  ));
  const d = await delivery(f.t, f.ids.ada);
  assert.equal(d.status, "bounced");
  assert.equal(d.bounce_class, "spam_or_policy");
  assert.deepEqual(await suppressions(f.t), []);
});

Deno.test("PgBounceSink.record() suppresses a complainer for good, not a not-spam report", async () => {
  await using f = await fixture();
  await f.sink.record(record("u1", complaint({ verpId: String(f.ids.ada) })));
  await f.sink.record(
    record("u2", complaint({ verpId: String(f.ids.bob), feedbackType: "not-spam" })),
  );
  assert.equal((await delivery(f.t, f.ids.ada)).status, "delivered", "a complaint is no bounce");
  assert.deepEqual((await events(f.t)).map((e) => e.kind), ["complaint", "complaint"]);
  const [s, ...more] = await suppressions(f.t);
  assert.equal(more.length, 0);
  assert.equal(s!.address, "ada@example.org");
  assert.equal(s!.source, "complaint");
  assert.equal(s!.expires_at, null);
  assert.match(s!.reason, /abuse from SomeISP-FBL/);
});

Deno.test("PgBounceSink.record() of a processed UIDL changes nothing", async () => {
  await using f = await fixture();
  const first = record("u1", bounce({ verpId: String(f.ids.ada) }));
  assert.equal((await f.sink.record(first)).kind, "recorded");
  assert.deepEqual(await f.sink.record(first), { kind: "duplicate" });
  assert.equal((await events(f.t)).length, 1, "one event, not two");
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ferry.bounce_messages`
    .execute(f.t.db);
  assert.equal(rows[0]!.n, 1);
  assert.deepEqual([...await f.sink.processed("bounces@pop.test:995", ["u1", "u2"])], ["u1"]);
});

Deno.test("PgBounceSink.record() never shortens a for-good suppression", async () => {
  await using f = await fixture();
  await f.t.db.insertInto("ferry.suppressions")
    .values({ address: "ada@example.org", reason: "operator", expires_at: null }).execute();
  await f.sink.record(record("u1", bounce({ verpId: String(f.ids.ada) })));
  const [s] = await suppressions(f.t);
  assert.equal(s!.expires_at, null);
});

Deno.test("PgBounceSink.record() counts a report's matched and unmatched recipients", async () => {
  await using f = await fixture();
  const result = await f.sink.record(record(
    "u1",
    bounce({ originalMessageId: f.messageId }),
    bounce({ recipient: "carol@example.org", originalMessageId: f.messageId }),
  ));
  assert.deepEqual(result, { kind: "recorded", matched: 1, unmatched: 1 });
  const [kept] = await unmatchedBounceMessages(f.t.db);
  assert.equal(kept!.matched, 1);
  assert.ok(kept!.raw, "the raw message is kept for the unmatched recipient");
  const outcomes = kept!.summary.outcomes as { recipient: string; deliveryId: number | null }[];
  assert.deepEqual(outcomes.map((o) => [o.recipient, o.deliveryId]), [
    ["ada@example.org", f.ids.ada],
    ["carol@example.org", null],
  ]);
});
