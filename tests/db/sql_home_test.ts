/**
 * Where SQL lives (db/README.md, "Where SQL lives and when it is raw"): only in db/, and there
 * every raw statement says why the query builder could not write it. Read from the source, so
 * SQL cannot creep back into relay/ or actors/ unnoticed.
 */
import assert from "node:assert/strict";
import { scanSource, sourcesUnder } from "../_support/sql_scan.ts";

const ROOT = new URL("../../", import.meta.url);

const BUILDER_ENTRY =
  /\.\s*(selectFrom|selectNoFrom|insertInto|replaceInto|updateTable|deleteFrom|mergeInto)\s*[<(]/g;
const SQL_IMPORT = /import\s*\{([^}]*)\}\s*from\s*["']kysely["']/g;

/** What in `source` is SQL or a query builder's entry point, as `line: what`. */
function sqlFindings(source: string): string[] {
  const { tags, code } = scanSource(source);
  const lineOf = (index: number) => code.slice(0, index).split("\n").length;
  const out = tags.map((t) => `${t.line}: sql ${t.kind}${t.statement ? " statement" : ""}`);
  for (const m of code.matchAll(BUILDER_ENTRY)) out.push(`${lineOf(m.index)}: .${m[1]}()`);
  for (const m of source.matchAll(SQL_IMPORT)) {
    const names = m[1]!.split(",").map((n) => n.trim());
    if (names.includes("sql")) out.push(`${lineOf(m.index)}: imports sql from kysely`);
  }
  return out;
}

/** The raw statements of `source` without a `// raw SQL: <reason>` comment just above. */
function uncommentedRawStatements(source: string): number[] {
  const lines = source.split("\n");
  return scanSource(source).tags.filter((t) => t.statement).map((t) => t.line).filter((line) => {
    // The comment block right above the statement's first line (0-based: line - 2).
    for (let i = line - 2; i >= 0 && /^\s*\/\//.test(lines[i]!); i--) {
      if (/^\s*\/\/ raw SQL: \S/.test(lines[i]!)) return false;
    }
    return true;
  });
}

Deno.test("relay/ and actors/ hold no SQL and no query builder calls", async () => {
  const offending: string[] = [];
  for (const dir of ["relay", "actors"]) {
    for (const file of await sourcesUnder(ROOT, dir)) {
      const found = sqlFindings(await Deno.readTextFile(new URL(file, ROOT)));
      if (found.length > 0) {
        offending.push(...found.map((f) => `${file}:${f}`));
      }
    }
  }
  assert.deepEqual(offending, [], "SQL belongs in a db/ repository function");
});

Deno.test("every raw SQL statement in db/ says why just above it", async () => {
  const offending: string[] = [];
  for (const file of await sourcesUnder(ROOT, "db")) {
    const lines = uncommentedRawStatements(await Deno.readTextFile(new URL(file, ROOT)));
    offending.push(...lines.map((l) => `${file}:${l}`));
  }
  assert.deepEqual(offending, [], "each needs `// raw SQL: <reason>` on a line just above");
});

Deno.test("the SQL scan tells statements from fragments, comments and strings", () => {
  const source = [
    "// sql`SELECT 1` in a comment is not SQL, nor is db.selectFrom() here",
    'const s = "sql`SELECT 1` and .deleteFrom( in a string";',
    "const re = /`[^`]*`/g;",
    "const part = sql`status = ${sql.lit('queued')}`;",
    "// raw SQL: a reason",
    "await sql<{ n: number }>`SELECT ${part}`.execute(db);",
    "await sql<",
    "  { id: number }",
    ">`SELECT id FROM t`",
    "  .execute(db);",
    "// a comment, but not the reason",
    "await sql.raw(`DROP TABLE t`).execute(db);",
    "const q = db.selectFrom('t').selectAll();",
    "const t = `${`nested ${sql`x`}`}`;",
  ].join("\n");
  assert.deepEqual(scanSource(source).tags, [
    { line: 4, kind: "template", statement: false },
    { line: 4, kind: "helper", statement: false },
    { line: 6, kind: "template", statement: true },
    { line: 7, kind: "template", statement: true },
    { line: 12, kind: "raw", statement: true },
    { line: 14, kind: "template", statement: false },
  ]);
  assert.deepEqual(uncommentedRawStatements(source), [7, 12]);
  assert.deepEqual(sqlFindings(source).filter((f) => f.includes(".")), ["13: .selectFrom()"]);
});
