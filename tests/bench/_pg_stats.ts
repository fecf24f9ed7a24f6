/**
 * What PostgreSQL did during a benchmark run: commits and, when `pg_stat_statements` can be loaded, the statements by calls and time.
 *
 * @module
 */
import pg from "pg";
import { findPostgresBin } from "../_support/postgres_cluster.ts";
import { parentOf } from "../_support/relay_process.ts";

export interface StatementStat {
  readonly query: string;
  readonly calls: number;
  readonly totalMs: number;
  readonly rows: number;
}

export interface PgSnapshot {
  readonly commits: number;
  readonly statements: readonly StatementStat[] | undefined;
}

/** A handle on the server's statistics, through its own connection. */
export interface PgStats {
  /** The postmaster's pid (PostgreSQL's process tree), when the server runs on this machine. */
  readonly postmaster: number | undefined;
  /** Whether pg_stat_statements is loaded and created in `database`. */
  readonly statements: boolean;
  snapshot(): Promise<PgSnapshot>;
  /** Forgets the statement statistics gathered so far. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the statistics of the database at `url`. With `mayRestart` (a throwaway cluster of the
 * benchmark's own) and pg_stat_statements not yet preloaded, it is added to
 * `shared_preload_libraries` and the server restarted once, keeping its command-line options.
 */
export async function openPgStats(url: string, mayRestart: boolean): Promise<PgStats> {
  let client = await connect(url);
  const preloaded = async () =>
    String((await client.query("SHOW shared_preload_libraries")).rows[0].shared_preload_libraries)
      .includes("pg_stat_statements");
  if (!(await preloaded()) && mayRestart) {
    await restartWithStatements(client);
    client = await connect(url);
  }
  let statements = false;
  if (await preloaded()) {
    try {
      await client.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
      statements = true;
    } catch {
      // contrib not installed: commits and CPU only.
    }
  }
  const backend = Number((await client.query("SELECT pg_backend_pid() AS pid")).rows[0].pid);
  const postmaster = parentOf(backend);
  return {
    postmaster,
    statements,
    async snapshot() {
      const commits = Number(
        (await client.query(
          "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
        )).rows[0].xact_commit,
      );
      const stats = statements
        ? (await client.query(
          `SELECT query, calls::float8 AS calls, total_exec_time AS ms, rows::float8 AS rows
             FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database
                                                   WHERE datname = current_database())`,
        )).rows.map((r: { query: string; calls: number; ms: number; rows: number }) => ({
          query: String(r.query),
          calls: Number(r.calls),
          totalMs: Number(r.ms),
          rows: Number(r.rows),
        }))
        : undefined;
      return { commits, statements: stats };
    },
    async reset() {
      if (statements) await client.query("SELECT pg_stat_statements_reset()");
    },
    close: () => client.end(),
  };
}

/** Statement statistics between two snapshots, busiest first. */
export function statementDelta(a: PgSnapshot, b: PgSnapshot): StatementStat[] {
  if (!a.statements || !b.statements) return [];
  const before = new Map(a.statements.map((s) => [s.query, s]));
  return b.statements.map((s) => {
    const p = before.get(s.query);
    return {
      query: s.query,
      calls: s.calls - (p?.calls ?? 0),
      totalMs: s.totalMs - (p?.totalMs ?? 0),
      rows: s.rows - (p?.rows ?? 0),
    };
  }).filter((s) => s.calls > 0).sort((x, y) => y.totalMs - x.totalMs);
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => {});
  await client.connect();
  return client;
}

async function restartWithStatements(client: pg.Client): Promise<void> {
  const bin = findPostgresBin();
  const data = String((await client.query("SHOW data_directory")).rows[0].data_directory);
  if (!bin) return;
  await client.query("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");
  await client.end();
  const owner = Deno.statSync(data).uid ?? 0;
  const user = owner === Deno.uid() ? undefined : await userName(owner);
  // The server inherits pg_ctl's output: a log file, not a pipe that would never close.
  const log = `${data.replace(/\/[^/]*$/, "")}/restart.log`;
  const cmd = [`${bin}/pg_ctl`, "-D", data, "-l", log, "-m", "fast", "-w", "restart"];
  const argv = user ? ["runuser", "-u", user, "--", ...cmd] : cmd;
  const status = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn().status;
  if (!status.success) {
    const text = await Deno.readTextFile(log).catch(() => "(no log)");
    throw new Error(`Cannot restart PostgreSQL with pg_stat_statements: ${text}`);
  }
}

async function userName(uid: number): Promise<string | undefined> {
  const out = await new Deno.Command("id", { args: ["-nu", String(uid)], stdout: "piped" })
    .output();
  return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
}
