/**
 * A fresh database per benchmark run on the benchmark's server, migrated, dropped afterwards.
 *
 * @module
 */
import type pg from "pg";
import { type Db, openDatabase } from "../../db/client.ts";
import { migrate } from "../../db/migrate.ts";

export interface BenchDatabase {
  readonly url: string;
  readonly db: Db;
  drop(): Promise<void>;
}

/** Creates `ferry_bench_<name>_<pid>` through `admin` (a connection to the server). */
export async function freshDatabase(
  admin: pg.Client,
  serverUrl: string,
  name: string,
): Promise<BenchDatabase> {
  const db = `ferry_bench_${name}_${Deno.pid}`;
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${db}`);
  const u = new URL(serverUrl);
  u.pathname = `/${db}`;
  const database = await openDatabase({ url: u.toString(), poolSize: 2 });
  await migrate(database.db);
  return {
    url: u.toString(),
    db: database.db,
    async drop() {
      await database.close();
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    },
  };
}
