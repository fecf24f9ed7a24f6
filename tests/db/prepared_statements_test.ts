/**
 * Named (prepared) statements on the server back end (db/prepared_statements.ts): what gets a
 * name, that the server keeps the plan, that a statement whose result type changed under it
 * recovers on its next use, and that `preparedStatements: false` leaves every statement unnamed.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { openDatabase } from "../../db/client.ts";
import { StatementNames } from "../../db/prepared_statements.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";
import type { Db } from "../../db/client.ts";

Deno.test("StatementNames names a text on its second use, the same name after, none past the cap", () => {
  const names = new StatementNames({ maxNames: 2 });
  assert.equal(names.nameFor("a"), undefined);
  const a = names.nameFor("a");
  assert.ok(a);
  assert.equal(names.nameFor("a"), a);
  names.nameFor("b");
  const b = names.nameFor("b");
  assert.ok(b && b !== a);
  // Two names taken: a third text runs unnamed however often it comes.
  for (let i = 0; i < 5; i++) assert.equal(names.nameFor("c"), undefined);
  assert.equal(names.size, 2);
});

Deno.test("StatementNames.forget() gives the text a new name on its next use", () => {
  const names = new StatementNames({ after: 1 });
  const first = names.nameFor("select 1");
  names.forget("select 1");
  const second = names.nameFor("select 1");
  assert.ok(first && second);
  assert.notEqual(second, first);
});

Deno.test("StatementNames forgets the counts of texts never named once it has counted maxSeen", () => {
  const names = new StatementNames({ maxSeen: 2 });
  names.nameFor("a");
  names.nameFor("b");
  names.nameFor("c"); // the counts start over: a's first use is forgotten
  assert.equal(names.nameFor("a"), undefined);
  assert.ok(names.nameFor("a"));
});

/** The prepared statements of the connection that runs `fn` after `fn`. */
async function preparedAfter(db: Db, fn: (c: Db) => Promise<void>): Promise<string[]> {
  return await db.connection().execute(async (c) => {
    await fn(c);
    const { rows } = await sql<{ statement: string }>`
      SELECT statement FROM pg_prepared_statements ORDER BY prepare_time`.execute(c);
    return rows.map((r) => r.statement);
  });
}

Deno.test({
  name: "a statement run twice with parameters is prepared on the server; one run once is not",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    const statements = await preparedAfter(t.db, async (c) => {
      for (let i = 0; i < 3; i++) {
        const { rows } = await sql<{ n: number }>`SELECT ${i}::int + 40 AS n`.execute(c);
        assert.equal(rows[0]!.n, 40 + i);
      }
      await sql`SELECT ${"once"}::text AS once`.execute(c);
    });
    assert.equal(statements.filter((s) => s.includes("+ 40")).length, 1);
    assert.equal(statements.filter((s) => s.includes("AS once")).length, 0);
  },
});

Deno.test({
  name: "a prepared statement whose result type changed fails once, then runs prepared afresh",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    await sql`CREATE TABLE public.shapes (id int PRIMARY KEY, a int)`.execute(t.db);
    await sql`INSERT INTO public.shapes VALUES (1, 10)`.execute(t.db);
    await t.db.connection().execute(async (c) => {
      const read = () =>
        sql<Record<string, number>>`SELECT * FROM public.shapes WHERE id = ${1}`
          .execute(c);
      await read();
      assert.deepEqual((await read()).rows, [{ id: 1, a: 10 }]);
      // Another instance migrates: the table gains a column under the prepared statement.
      await sql`ALTER TABLE public.shapes ADD COLUMN b int DEFAULT 7`.execute(t.db);
      await assert.rejects(read(), /cached plan must not change result type/);
      assert.deepEqual((await read()).rows, [{ id: 1, a: 10, b: 7 }]);
      assert.deepEqual((await read()).rows, [{ id: 1, a: 10, b: 7 }]);
    });
  },
});

Deno.test({
  name: "preparedStatements: false leaves every statement unnamed",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    const plain = await openDatabase({ url: t.url!, poolSize: 1, preparedStatements: false });
    try {
      const statements = await preparedAfter(plain.db, async (c) => {
        for (let i = 0; i < 3; i++) await sql`SELECT ${i}::int + 40 AS n`.execute(c);
      });
      assert.deepEqual(statements, []);
    } finally {
      await plain.close();
    }
  },
});
