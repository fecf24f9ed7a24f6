/**
 * Test databases. Each call gives a fresh, migrated database:
 * - with DATABASE_URL (set by tests/run.ts or by hand): a new database on that server, dropped
 *   on dispose;
 * - otherwise an in-memory PGlite.
 *
 * `serverOnly` marks tests that need a real server (concurrent connections, several instances):
 * they are ignored, and so listed by name, on PGlite.
 *
 * @module
 */
import pg from "pg";
import { type Database, openDatabase } from "../../db/client.ts";
import { migrate } from "../../db/migrate.ts";
import { requirePeer } from "./peers.ts";

const serverUrl = Deno.env.get("DATABASE_URL");

/** True when no PostgreSQL server is available (never in CI): pass as Deno.test's `ignore`. */
export const serverOnly = requirePeer("postgres", !serverUrl);

export interface TestDatabase extends Database, AsyncDisposable {
  /** The URL of this test's own database (server back end only). */
  readonly url?: string;
  /** Opens another, independent handle on the same database (a second "instance"). */
  reopen(): Promise<Database>;
}

let counter = 0;

export async function testDatabase(): Promise<TestDatabase> {
  if (!serverUrl) {
    const database = await openDatabase({});
    await migrate(database.db);
    return {
      ...database,
      reopen: () => Promise.reject(new Error("Cannot reopen an in-memory PGlite database")),
      [Symbol.asyncDispose]: () => database.close(),
    };
  }
  const name = `ferry_test_${Deno.pid}_${++counter}_${crypto.randomUUID().slice(0, 8)}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = withDatabase(serverUrl, name);
  const database = await openDatabase({ url, poolSize: 8 });
  await migrate(database.db);
  const others: Database[] = [];
  return {
    ...database,
    url,
    async reopen() {
      const other = await openDatabase({ url, poolSize: 8 });
      others.push(other);
      return other;
    },
    async [Symbol.asyncDispose]() {
      for (const o of others) await o.close();
      await database.close();
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
