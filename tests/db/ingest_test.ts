import assert from "node:assert/strict";
import { sql } from "kysely";
import { ingestOutbox } from "../../db/ingest.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";

const now = new Date("2026-03-01T10:00:00Z");

async function deliveriesOf(db: import("../../db/client.ts").Db, outboxId: number) {
  return await db.selectFrom("ferry.deliveries").selectAll().where("outbox_id", "=", outboxId)
    .orderBy("id").execute();
}

Deno.test("ingestOutbox() expands to, cc and bcc into one delivery each, merging duplicates", async () => {
  await using t = await testDatabase();
  const id = await insertOutbox(t.db, {
    to_addresses: ["A <a@Example.TEST>", "b@example.test"],
    cc_addresses: ["c@other.test", "a@example.test"],
    bcc_addresses: ["b@example.test", "d@bücher.test"],
  });
  const r = await ingestOutbox(t.db, { now });
  assert.deepEqual(r, {
    rows: 1,
    rejectedRows: 0,
    queued: 4,
    rejected: 0,
    suppressed: 0,
    claimed: [],
  });
  const rows = await deliveriesOf(t.db, id);
  assert.deepEqual(rows.map((d) => [d.recipient, d.domain, d.status]), [
    ["a@example.test", "example.test", "queued"],
    ["b@example.test", "example.test", "queued"],
    ["c@other.test", "other.test", "queued"],
    ["d@xn--bcher-kva.test", "xn--bcher-kva.test", "queued"],
  ]);
  const outbox = await t.db.selectFrom("ferry.outbox").selectAll().where("id", "=", id)
    .executeTakeFirstOrThrow();
  assert.ok(outbox.ingested_at);
  // expires_at defaults to created_at + 5 days and is written back for the application to see.
  assert.equal(
    new Date(outbox.expires_at!).getTime() - new Date(outbox.created_at).getTime(),
    5 * 24 * 3600 * 1000,
  );
  assert.equal(r.rows, 1);
  assert.equal((await ingestOutbox(t.db, { now })).rows, 0, "a row is ingested once");
});

Deno.test("ingestOutbox() flags a UTF-8 local part as needing SMTPUTF8", async () => {
  await using t = await testDatabase();
  const id = await insertOutbox(t.db, {
    to_addresses: ["jöhn@example.test", "plain@example.test"],
  });
  await ingestOutbox(t.db, { now });
  const rows = await deliveriesOf(t.db, id);
  assert.deepEqual(rows.map((d) => [d.recipient, d.smtputf8]), [
    ["jöhn@example.test", true],
    ["plain@example.test", false],
  ]);
});

Deno.test("ingestOutbox() rejects malformed rows with reasons while valid rows in the batch proceed", async () => {
  await using t = await testDatabase();
  const good1 = await insertOutbox(t.db);
  const cases: [string, Parameters<typeof insertOutbox>[1], RegExp][] = [
    ["bad address", { to_addresses: ["not an address"] }, /invalid recipient/],
    ["CR/LF in subject", { subject: "hi\r\nBcc: victim@evil.test" }, /subject contains CR, LF/],
    [
      "CR/LF in a header",
      { headers: { "X-Tag": "a\nBcc: x@evil.test" } },
      /header X-Tag contains CR, LF/,
    ],
    ["reserved header", { headers: { Bcc: "x@evil.test" } }, /header Bcc cannot be set/],
    ["no recipients", { to_addresses: [] }, /no recipients/],
    [
      "raw plus structured",
      {
        raw_message: new TextEncoder().encode("Subject: x\r\n\r\nhi\r\n"),
        subject: "x",
        text_body: null,
      },
      /raw_message cannot be mixed/,
    ],
    ["oversize", { text_body: "x".repeat(26 * 1024 * 1024) }, /message too large/],
    ["300-character domain", { to_addresses: [`a@${"d".repeat(296)}.com`] }, /longer than 255/],
    ["bad from", { from_address: "nobody" }, /invalid from_address/],
    ["no from", { from_address: null }, /from_address is required/],
    ["bad priority", { priority: 7 }, /invalid priority/],
    [
      "CR/LF in an address",
      { to_addresses: ["a@b.test\r\nRCPT TO:<x@evil.test>"] },
      /control character/,
    ],
  ];
  const ids: number[] = [];
  for (const [, row] of cases) ids.push(await insertOutbox(t.db, row));
  const good2 = await insertOutbox(t.db);
  const r = await ingestOutbox(t.db, { now });
  assert.equal(r.rows, cases.length + 2);
  assert.equal(r.queued, 2);
  for (const [i, [name, , reason]] of cases.entries()) {
    const rows = await deliveriesOf(t.db, ids[i]!);
    assert.ok(rows.length >= 1, `${name}: a rejected delivery row exists`);
    for (const d of rows) {
      assert.equal(d.status, "rejected", name);
      assert.match(d.last_reply ?? "", reason, name);
    }
  }
  for (const id of [good1, good2]) {
    assert.deepEqual((await deliveriesOf(t.db, id)).map((d) => d.status), ["queued"]);
  }
  const rejectedRow = await t.db.selectFrom("ferry.outbox").select("reject_reason")
    .where("id", "=", ids[4]!).executeTakeFirstOrThrow();
  assert.match(rejectedRow.reject_reason ?? "", /no recipients/);
});

Deno.test("ingestOutbox() rejects one bad recipient but sends to the others", async () => {
  await using t = await testDatabase();
  const id = await insertOutbox(t.db, { to_addresses: ["ok@example.test", "bad@@example.test"] });
  await ingestOutbox(t.db, { now });
  const rows = await deliveriesOf(t.db, id);
  assert.deepEqual(rows.map((d) => [d.recipient, d.status]), [
    ["ok@example.test", "queued"],
    ["bad@@example.test", "rejected"],
  ]);
});

Deno.test("ingestOutbox() marks suppressed recipients and ignores expired suppressions", async () => {
  await using t = await testDatabase();
  await t.db.insertInto("ferry.suppressions").values([
    { address: "gone@example.test", reason: "550 5.1.1 user unknown" },
    { address: "was@example.test", reason: "old", expires_at: new Date("2026-02-01T00:00:00Z") },
  ]).execute();
  const id = await insertOutbox(t.db, {
    to_addresses: ["Gone@example.test", "was@example.test", "ok@example.test"],
  });
  const r = await ingestOutbox(t.db, { now });
  assert.equal(r.suppressed, 1);
  const rows = await deliveriesOf(t.db, id);
  assert.deepEqual(rows.map((d) => [d.recipient, d.status]), [
    ["Gone@example.test", "suppressed"],
    ["was@example.test", "queued"],
    ["ok@example.test", "queued"],
  ]);
  assert.match(rows[0]!.last_reply!, /user unknown/);
});

Deno.test("ingestOutbox() sends once for a duplicate idempotency key", async () => {
  await using t = await testDatabase();
  await insertOutbox(t.db, { idempotency_key: "order-42" });
  await assert.rejects(
    () => insertOutbox(t.db, { idempotency_key: "order-42" }),
    /duplicate key|unique/,
  );
  // The documented application form: ON CONFLICT DO NOTHING keeps the app's transaction alive.
  await sql`INSERT INTO ferry.outbox (from_address, to_addresses, text_body, idempotency_key)
            VALUES ('s@ferry.test', ARRAY['rcpt@example.test'], 'again', 'order-42')
            ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`.execute(
    t.db,
  );
  const r = await ingestOutbox(t.db, { now });
  assert.equal(r.queued, 1);
  const n = await t.db.selectFrom("ferry.deliveries").select((eb) => eb.fn.countAll().as("n"))
    .executeTakeFirstOrThrow();
  assert.equal(Number(n.n), 1);
});

Deno.test("ingestOutbox() never sees a row from a rolled-back transaction", async () => {
  await using t = await testDatabase();
  await assert.rejects(() =>
    t.db.transaction().execute(async (tx) => {
      await insertOutbox(tx);
      throw new Error("application rolls back");
    })
  );
  const kept = await insertOutbox(t.db);
  const r = await ingestOutbox(t.db, { now });
  assert.equal(r.rows, 1);
  assert.equal((await deliveriesOf(t.db, kept)).length, 1);
  const total = await t.db.selectFrom("ferry.outbox").select((eb) => eb.fn.countAll().as("n"))
    .executeTakeFirstOrThrow();
  assert.equal(Number(total.n), 1);
});

Deno.test({
  name: "ingestOutbox() skips rows still locked by an uncommitted application transaction",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    const other = await t.reopen();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let inserted!: () => void;
    const insertedP = new Promise<void>((r) => (inserted = r));
    const app = other.db.transaction().execute(async (tx) => {
      await insertOutbox(tx);
      inserted();
      await held;
    });
    await insertedP;
    assert.equal((await ingestOutbox(t.db, { now })).rows, 0, "uncommitted rows are invisible");
    release();
    await app;
    assert.equal((await ingestOutbox(t.db, { now })).rows, 1, "once committed, it is ingested");
  },
});

Deno.test("ingestOutbox() takes raw messages and records their size limit", async () => {
  await using t = await testDatabase();
  const raw = new TextEncoder().encode("From: s@ferry.test\r\nSubject: raw\r\n\r\nbody\r\n");
  const id = await insertOutbox(t.db, { raw_message: raw, subject: null, text_body: null });
  const big = await insertOutbox(t.db, {
    raw_message: new Uint8Array(2000),
    subject: null,
    text_body: null,
  });
  await ingestOutbox(t.db, { now, limits: { maxMessageSize: 1000, maxRecipients: 10 } });
  assert.equal((await deliveriesOf(t.db, id))[0]!.status, "queued");
  assert.match(
    (await deliveriesOf(t.db, big))[0]!.last_reply!,
    /2000 octets exceeds the limit of 1000/,
  );
});

Deno.test("ingestOutbox() refuses a non-positive batch size with a clear error", async () => {
  await using t = await testDatabase();
  await assert.rejects(
    () => ingestOutbox(t.db, { now, limit: 0 }),
    /Cannot ingest a batch as 'limit' must be > 0: current value is 0/,
  );
});
