/**
 * Applies pending migrations. Safe when several instances start at once: the whole run holds a
 * session-level advisory lock, so one instance migrates while the others wait, then find nothing
 * left to do. Each migration runs in its own transaction together with its bookkeeping row.
 *
 * @module
 */
import { sql } from "kysely";
import type { Db } from "./client.ts";
import { type Migration, migrations as allMigrations } from "./migrations/mod.ts";

/** The advisory-lock key: the first 8 bytes of sha1("ferry.migrations"), fixed forever. */
export const MIGRATION_LOCK_KEY = 0x3f6c1d2b5a4e7701n;

export interface MigrationResult {
  /** Versions applied by this call, in order. */
  readonly applied: readonly number[];
  /** The schema version after the call. */
  readonly version: number;
}

/** Brings the `ferry` schema to the latest version. */
export async function migrate(
  db: Db,
  migrations: readonly Migration[] = allMigrations,
): Promise<MigrationResult> {
  return await db.connection().execute(async (conn) => {
    await advisory(conn, "pg_advisory_lock");
    try {
      // raw SQL: DDL, kept as SQL text like the migrations it makes room for
      await sql.raw(`
        CREATE SCHEMA IF NOT EXISTS ferry;
        CREATE TABLE IF NOT EXISTS ferry.schema_migrations (
          version    integer PRIMARY KEY,
          name       text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        );`).execute(conn);
      const done = new Set(
        (await conn.selectFrom("ferry.schema_migrations").select("version").execute())
          .map((r) => r.version),
      );
      const applied: number[] = [];
      for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
        if (done.has(m.version)) continue;
        await conn.transaction().execute(async (tx) => {
          // raw SQL: a migration is SQL text, run as it was written
          await sql.raw(m.up).execute(tx);
          await tx.insertInto("ferry.schema_migrations")
            .values({ version: m.version, name: m.name }).execute();
        });
        applied.push(m.version);
        done.add(m.version);
      }
      return { applied, version: Math.max(0, ...done) };
    } finally {
      await advisory(conn, "pg_advisory_unlock");
    }
  });
}

/** Takes or releases the session-level migration lock, on the connection `conn` holds. */
async function advisory(conn: Db, fn: "pg_advisory_lock" | "pg_advisory_unlock"): Promise<void> {
  await conn.selectNoFrom((eb) =>
    eb.fn(fn, [eb.cast(eb.val(MIGRATION_LOCK_KEY.toString()), "bigint")]).as("done")
  ).execute();
}
