/**
 * Poison rows: values PostgreSQL accepts but Ferry cannot use (timestamps beyond JavaScript's
 * range, `infinity`, odd jsonb, out-of-range priorities) are rejected one by one with a reason,
 * and never stop the rows around them.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { sql } from "kysely";
import { ingestOutbox, timestampFromEpochMs } from "../../db/ingest.ts";
import type { Db } from "../../db/client.ts";
import { testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";

const now = new Date("2026-03-01T10:00:00Z");

/** Inserts a valid row, then overwrites one timestamp column with a literal PostgreSQL accepts. */
async function rowWith(db: Db, column: "send_at" | "expires_at", literal: string) {
  const id = await insertOutbox(db);
  await sql`UPDATE ferry.outbox SET ${sql.ref(column)} = ${literal}::timestamptz WHERE id = ${id}`
    .execute(db);
  return id;
}

async function statusOf(db: Db, id: number) {
  const rows = await db.selectFrom("ferry.deliveries").select(["status", "last_reply"])
    .where("outbox_id", "=", id).execute();
  const outbox = await db.selectFrom("ferry.outbox").select(["ingested_at", "reject_reason"])
    .where("id", "=", id).executeTakeFirstOrThrow();
  return { rows, outbox };
}

Deno.test("timestampFromEpochMs() refuses infinity and values beyond Date's range", () => {
  assert.equal(timestampFromEpochMs("send_at", 0).ok, true);
  assert.deepEqual(timestampFromEpochMs("send_at", Infinity), {
    ok: false,
    reason: "send_at is infinity",
  });
  assert.deepEqual(timestampFromEpochMs("expires_at", -Infinity), {
    ok: false,
    reason: "expires_at is -infinity",
  });
  const far = timestampFromEpochMs("send_at", 9.2e15);
  assert.equal(far.ok, false);
  assert.match(!far.ok ? far.reason : "", /outside the range Ferry can represent/);
  assert.equal(timestampFromEpochMs("send_at", "8640000000000000").ok, true);
  assert.equal(timestampFromEpochMs("send_at", null).ok, false);
});

Deno.test("ingestOutbox() rejects far-future and infinite timestamps and ingests their neighbours", async () => {
  await using t = await testDatabase();
  const before = await insertOutbox(t.db);
  const poison = [
    await rowWith(t.db, "send_at", "294276-01-01"),
    await rowWith(t.db, "expires_at", "294276-01-01"),
    await rowWith(t.db, "expires_at", "-infinity"),
    await rowWith(t.db, "send_at", "infinity"),
    await rowWith(t.db, "send_at", "-infinity"),
  ];
  // The earliest timestamp PostgreSQL has is still within Date's range: a valid, overdue row.
  const after = await rowWith(t.db, "send_at", "4713-01-01 BC");

  const r = await ingestOutbox(t.db, { now, limit: 100 });
  assert.equal(r.rows, 7);
  assert.equal(r.queued, 2);
  assert.equal(r.rejectedRows, 5);
  for (const id of [before, after]) {
    assert.deepEqual((await statusOf(t.db, id)).rows.map((d) => d.status), ["queued"]);
  }
  const reasons = [
    /send_at is outside the range Ferry can represent/,
    /expires_at is outside the range Ferry can represent/,
    /expires_at is -infinity/,
    /send_at is infinity/,
    /send_at is -infinity/,
  ];
  for (const [i, id] of poison.entries()) {
    const s = await statusOf(t.db, id);
    assert.deepEqual(s.rows.map((d) => d.status), ["rejected"], `row ${i}`);
    assert.match(s.rows[0]!.last_reply ?? "", reasons[i]!);
    assert.match(s.outbox.reject_reason ?? "", reasons[i]!);
    assert.ok(s.outbox.ingested_at, "a poison row is taken, not retried forever");
  }
  assert.equal((await ingestOutbox(t.db, { now })).rows, 0);
});

Deno.test("ingestOutbox() splits a failing batch and rejects only the row at fault", async () => {
  await using t = await testDatabase();
  const ids = [];
  for (let i = 0; i < 7; i++) ids.push(await insertOutbox(t.db, { subject: `s${i}` }));
  // A trigger stands in for any failure a row causes inside the batch's statements.
  await sql`
    CREATE FUNCTION ferry.test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.outbox_id = ${
    sql.lit(ids[4]!)
  } AND NEW.status = 'queued' THEN RAISE EXCEPTION 'poisoned row'; END IF;
      RETURN NEW;
    END $$`.execute(t.db);
  await sql`CREATE TRIGGER test_poison BEFORE INSERT ON ferry.deliveries
             FOR EACH ROW EXECUTE FUNCTION ferry.test_poison()`.execute(t.db);

  const connectionOnly = (err: unknown) => !/poisoned row/.test(String(err));
  const r = await ingestOutbox(t.db, { now, limit: 100, isConnectionError: connectionOnly });
  assert.equal(r.rows, 7);
  assert.equal(r.queued, 6);
  assert.equal(r.rejectedRows, 1);
  const bad = await statusOf(t.db, ids[4]!);
  assert.match(bad.outbox.reject_reason ?? "", /cannot ingest row: .*poisoned row/);
  for (const id of ids.filter((_, i) => i !== 4)) {
    assert.deepEqual((await statusOf(t.db, id)).rows.map((d) => d.status), ["queued"]);
  }
  // Without a classifier every error is the database's: thrown for the caller to retry later.
  await insertOutbox(t.db);
  await sql`UPDATE ferry.outbox SET ingested_at = NULL WHERE id = ${ids[4]!}`.execute(t.db);
  await assert.rejects(() => ingestOutbox(t.db, { now }), /poisoned row/);
});

const extremeTimestamp = fc.oneof(
  fc.constantFrom(
    "infinity",
    "-infinity",
    "294276-01-01",
    "275760-09-13",
    "275761-01-01",
    "4713-01-01 BC",
    "1970-01-01",
    "2026-03-01 10:00:00+14",
    "epoch",
  ),
  fc.date({ min: new Date("0001-01-01"), max: new Date("9999-12-31"), noInvalidDate: true })
    .map((d) => d.toISOString()),
);

const poisonColumn = fc.oneof(
  fc.record({ column: fc.constant("send_at" as const), value: extremeTimestamp }),
  fc.record({ column: fc.constant("expires_at" as const), value: extremeTimestamp }),
  fc.record({
    column: fc.constant("priority" as const),
    value: fc.integer({ min: -32768, max: 32767 }),
  }),
  fc.record({ column: fc.constant("headers" as const), value: fc.jsonValue({ maxDepth: 2 }) }),
  fc.record({
    column: fc.constant("subject" as const),
    value: fc.string({ unit: "binary", maxLength: 300 }),
  }),
  fc.record({
    column: fc.constant("to_addresses" as const),
    value: fc.array(fc.string({ unit: "binary", maxLength: 40 }), { maxLength: 3 }),
  }),
);

Deno.test("ingestOutbox() always ingests valid rows whatever extreme values their neighbours hold", async () => {
  await using t = await testDatabase();
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.option(poisonColumn, { nil: undefined }), { minLength: 1, maxLength: 8 }),
      async (plan) => {
        runs++;
        await sql`TRUNCATE ferry.outbox, ferry.deliveries`.execute(t.db);
        const valid: number[] = [];
        const odd: number[] = [];
        for (const p of plan) {
          const id = await insertOutbox(t.db);
          if (!p) {
            valid.push(id);
            continue;
          }
          odd.push(id);
          const value = p.column === "headers"
            ? sql`${JSON.stringify(p.value)}::jsonb`
            : p.column === "send_at" || p.column === "expires_at"
            ? sql`${p.value}::timestamptz`
            : p.column === "to_addresses"
            ? sql`${p.value}::text[]`
            : sql`${p.value}`;
          await sql`UPDATE ferry.outbox SET ${sql.ref(p.column)} = ${value} WHERE id = ${id}`
            .execute(t.db);
        }
        let rounds = 0;
        while ((await ingestOutbox(t.db, { now, limit: 3 })).rows > 0) {
          assert.ok(++rounds <= plan.length, "ingestion makes progress every batch");
        }
        for (const id of valid) {
          const s = await statusOf(t.db, id);
          assert.deepEqual(s.rows.map((d) => d.status), ["queued"], `valid row ${id}`);
        }
        for (const id of odd) {
          const s = await statusOf(t.db, id);
          assert.ok(s.outbox.ingested_at, `row ${id} taken`);
          assert.ok(s.rows.length > 0, `row ${id} has a delivery row`);
          for (const d of s.rows) {
            assert.ok(["queued", "rejected"].includes(d.status), d.status);
            if (d.status === "rejected") {
              assert.ok((d.last_reply ?? "").length > 0, "with a reason");
            }
          }
        }
      },
    ),
    { numRuns: 40, seed: 20261203 },
  );
  assert.equal(runs, 40);
});
