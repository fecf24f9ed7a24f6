/**
 * The two back ends behind one interface: a PostgreSQL server through `DATABASE_URL` (node-postgres
 * pool), or embedded PostgreSQL (PGlite) persisted in a directory. Both speak the same SQL through
 * Kysely's PostgreSQL compiler, so every repository function and every migration runs unchanged on
 * either.
 *
 * @module
 */
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { PGlite } from "@electric-sql/pglite";
import { PGliteDialect } from "./pglite_dialect.ts";
import { pgliteStartParams } from "./pglite_settings.ts";
import { prepareStatements, StatementNames } from "./prepared_statements.ts";
import type { FerrySchema } from "./schema.ts";

export type Db = Kysely<FerrySchema>;

/** An open database: the Kysely handle plus what differs between the back ends. */
export interface Database {
  readonly kind: "postgres" | "pglite";
  readonly db: Db;
  /** Closes every connection. */
  close(): Promise<void>;
  /**
   * Connections busy with a statement or transaction, plus requests waiting for one (server back
   * end): tests that drive a fake clock wait for it to reach 0 before moving time on.
   */
  inUse?(): number;
}

export interface OpenOptions {
  /** A `postgres://` URL; when absent, PGlite is used. */
  readonly url?: string;
  /** PGlite's data directory; `undefined` keeps it in memory (tests). */
  readonly dataDir?: string;
  /** Pool size for the server back end. */
  readonly poolSize?: number;
  readonly applicationName?: string;
  /**
   * Server back end: run the statements used again and again as named (prepared) statements
   * (default true; false behind a pooler that cannot keep them, see db/prepared_statements.ts).
   */
  readonly preparedStatements?: boolean;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;
// A `date` is a calendar day: read as its text (YYYY-MM-DD), not turned into an instant at
// local midnight, which would move it by the process's time zone.
const DATE_OID = 1082;

/** Opens the server or the embedded back end. */
export async function openDatabase(options: OpenOptions): Promise<Database> {
  if (options.url) return openPostgres(options.url, options);
  return await openPGlite(options.dataDir);
}

function openPostgres(url: string, options: OpenOptions): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    application_name: options.applicationName ?? "ferry",
    // Ids and counters are bigint in SQL; they stay far below 2^53, so numbers are safe and
    // far more convenient than strings.
    types: {
      getTypeParser(oid: number, format?: string) {
        if (oid === INT8_OID) return (v: string) => Number(v);
        if (oid === DATE_OID) return (v: string) => v;
        // deno-lint-ignore no-explicit-any
        return (pg.types.getTypeParser as any)(oid, format);
      },
    },
  });
  // An idle client's error (server restart) must not crash the process: the pool drops it.
  pool.on("error", () => {});
  // Nor may a checked-out client's: between two statements of a transaction it has no listener
  // of the pool's, and an EventEmitter's unheard 'error' is an uncaught exception. The statement
  // in progress (or the next one) fails with the error, and the loops treat it as an outage.
  // Statements run again and again are parsed and planned once per connection (see the module).
  const names = options.preparedStatements === false ? undefined : new StatementNames();
  pool.on("connect", (client: pg.PoolClient) => {
    client.on("error", () => {});
    if (names) prepareStatements(client, names);
  });
  const db = new Kysely<FerrySchema>({ dialect: new PostgresDialect({ pool }) });
  return {
    kind: "postgres",
    db,
    close: () => db.destroy(),
    inUse: () => pool.totalCount - pool.idleCount + pool.waitingCount,
  };
}

async function openPGlite(dataDir: string | undefined): Promise<Database> {
  if (dataDir) {
    await Deno.mkdir(dataDir, { recursive: true });
    if (!(await exists(`${dataDir}/PG_VERSION`))) await initDataDirInChild(dataDir);
  }
  const pglite = await PGlite.create(dataDir, {
    // Memory settings sized for Ferry, not PostgreSQL's server defaults: see pglite_settings.ts.
    startParams: pgliteStartParams(),
    parsers: {
      [INT8_OID]: (v: string) => Number(v),
      [NUMERIC_OID]: (v: string) => Number(v),
      [DATE_OID]: (v: string) => v,
    },
  });
  const db = new Kysely<FerrySchema>({ dialect: new PGliteDialect(pglite) });
  return {
    kind: "pglite",
    db,
    close: async () => {
      await db.destroy();
      await pglite.close();
    },
  };
}

const INITDB = new URL("./pglite_initdb.ts", import.meta.url);

/**
 * Runs PGlite's initdb for a fresh directory in a child process (`pglite_initdb.ts`), so that
 * its memory goes back to the operating system when the child exits instead of staying in the
 * relay's RSS. Where no child can be started (a `deno compile` binary, which cannot run another
 * script; no permission to run subprocesses) or it fails, the directory is left as it was and
 * `PGlite.create` runs initdb in process, as it does by itself: slower to give memory back,
 * never a different database.
 */
async function initDataDirInChild(dataDir: string): Promise<void> {
  if (Deno.build.standalone || INITDB.protocol !== "file:") return;
  try {
    await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", "--allow-env", INITDB.pathname, dataDir],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
  } catch {
    // No --allow-run, or no deno executable to run: initdb runs in process below.
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
