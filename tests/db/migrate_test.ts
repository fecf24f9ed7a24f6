import assert from "node:assert/strict";
import { sql } from "kysely";
import { openDatabase } from "../../db/client.ts";
import { migrate } from "../../db/migrate.ts";
import { migrations } from "../../db/migrations/mod.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";

Deno.test("migrate() is idempotent", async () => {
  await using t = await testDatabase();
  const again = await migrate(t.db);
  assert.deepEqual(again, { applied: [], version: migrations.at(-1)!.version });
});

Deno.test("migrate() creates the contract's tables and columns", async () => {
  await using t = await testDatabase();
  const { rows } = await sql<{ table_name: string; column_name: string }>`
    SELECT table_name, column_name FROM information_schema.columns
     WHERE table_schema = 'ferry' AND table_name IN ('outbox', 'deliveries')`.execute(t.db);
  const cols = (table: string) =>
    rows.filter((r) => r.table_name === table).map((r) => r.column_name);
  for (
    const c of [
      "id",
      "from_address",
      "to_addresses",
      "cc_addresses",
      "bcc_addresses",
      "reply_to",
      "subject",
      "text_body",
      "html_body",
      "headers",
      "raw_message",
      "priority",
      "require_tls",
      "send_at",
      "expires_at",
      "idempotency_key",
      "metadata",
      "created_at",
    ]
  ) assert.ok(cols("outbox").includes(c), `outbox.${c}`);
  for (
    const c of [
      "id",
      "outbox_id",
      "recipient",
      "domain",
      "status",
      "attempts",
      "next_attempt_at",
      "last_code",
      "last_reply",
      "mx_host",
      "updated_at",
      "delivered_at",
    ]
  ) assert.ok(cols("deliveries").includes(c), `deliveries.${c}`);
});

Deno.test("migrate() on PGlite persists in a data directory across reopen", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = await openDatabase({ dataDir: dir });
    assert.deepEqual((await migrate(a.db)).applied, migrations.map((m) => m.version));
    await a.close();
    const b = await openDatabase({ dataDir: dir });
    assert.deepEqual((await migrate(b.db)).applied, []);
    await b.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "migrate() from several instances starting at once applies each migration once",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    // A fresh database with no schema at all: drop what testDatabase() made.
    await sql`DROP SCHEMA ferry CASCADE`.execute(t.db);
    const handles = await Promise.all([t.reopen(), t.reopen(), t.reopen(), t.reopen()]);
    const results = await Promise.all(handles.map((h) => migrate(h.db)));
    const applied = results.flatMap((r) => r.applied);
    assert.deepEqual(
      applied,
      migrations.map((m) => m.version),
      "each version applied exactly once",
    );
  },
});
