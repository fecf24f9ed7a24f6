/**
 * Pick-up latency, open loop, from the application's COMMIT to the receiver's 250.
 *
 * A separate process (this file run with `insert`) commits one `ferry.outbox` row per transaction
 * on a fixed schedule (FERRY_PROBE_RATE per second for FERRY_PROBE_SECONDS) and writes the time
 * each COMMIT returned; the relay (`relay/main.ts`, its own process) delivers to npm smtp-server
 * in this process, which takes the time it accepts each message (the moment it answers 250).
 * Both clocks are the wall clock of one machine (`performance.timeOrigin + performance.now()`).
 * Reported: p50/p99/max of 250 − COMMIT, and the load average before and after.
 *
 * Knobs (environment): FERRY_PROBE_RATE (200), FERRY_PROBE_SECONDS (30), FERRY_PROBE_DOMAINS
 * (10), FERRY_PROBE_CONFIG (JSON merged into the relay's FERRY_CONFIG), DATABASE_URL (else a
 * throwaway durable cluster: PostgreSQL at its defaults, fsync on).
 *
 * Run: deno run -A tests/bench/latency_probe_bench.ts
 */
import pg from "pg";
import { SMTPServer } from "smtp-server";
import type { AddressInfo } from "node:net";
import { openDatabase } from "../../db/client.ts";
import { migrate } from "../../db/migrate.ts";
import { procStats, spawnRelay } from "../_support/relay_process.ts";
import { benchServer, report } from "./_env.ts";

const env = (k: string, d: string) => Deno.env.get(`FERRY_PROBE_${k}`) ?? d;
const RATE = Number(env("RATE", "200"));
const SECONDS = Number(env("SECONDS", "30"));
const DOMAINS = Number(env("DOMAINS", "10"));
const EXTRA = JSON.parse(env("CONFIG", "{}")) as Record<string, unknown>;
const BODY = "The quick brown fox jumps over the lazy dog.\n".repeat(40);
const wall = () => performance.timeOrigin + performance.now();

if (Deno.args[0] === "insert") await insert(Deno.args[1]!);
else await probe();

/** The application: one row per transaction at a fixed schedule; prints `k commitMs` lines. */
async function insert(url: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  const total = RATE * SECONDS;
  const start = performance.now() + 200;
  const out: string[] = [];
  const pending: Promise<void>[] = [];
  for (let k = 0; k < total; k++) {
    const wait = start + (k * 1000) / RATE - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const began = wall();
    pending.push(
      pool.query(
        `INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body)
         VALUES ('Probe <probe@ferry.test>', ARRAY[$1], $2, $3)`,
        [`u${k}@d${k % DOMAINS}.test`, `Latency ${k}`, BODY],
      ).then(() => {
        const at = wall();
        out.push(`${k} ${at.toFixed(3)} ${(at - began).toFixed(3)}`);
      }),
    );
  }
  await Promise.all(pending);
  await pool.end();
  console.log(out.join("\n"));
}

async function probe(): Promise<void> {
  const server = await benchServer();
  const accepted = new Map<number, number>();
  const smtp = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    onData(stream, session, callback) {
      stream.on("data", () => {});
      stream.on("end", () => {
        const at = wall();
        for (const r of session.envelope.rcptTo) {
          const k = Number(/^u(\d+)@/.exec(r.address)?.[1]);
          if (Number.isFinite(k)) accepted.set(k, at);
        }
        callback();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, "127.0.0.1", r));
  const port = (smtp.server.address() as AddressInfo).port;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  const name = `ferry_probe_${Deno.pid}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(server.url);
  u.pathname = `/${name}`;
  const url = u.toString();
  const setup = await openDatabase({ url, poolSize: 1 });
  await migrate(setup.db);
  await setup.close();
  try {
    const relay = await spawnRelay({
      databaseUrl: url,
      routes: `*=127.0.0.1:${port}`,
      config: { domains: { "*": { maxConnections: 2, initialConnections: 2 } }, ...EXTRA },
    });
    try {
      await relay.started();
      const loadBefore = Deno.loadavg();
      const cpuBefore = procStats(relay.pid)?.cpu ?? NaN;
      const commitsBefore = await commits(admin, name);
      const app = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL(import.meta.url).pathname, "insert", url],
        stdout: "piped",
        stderr: "inherit",
      }).output();
      const committed = new Map<number, number>();
      const insertMs: number[] = [];
      for (const line of new TextDecoder().decode(app.stdout).split("\n")) {
        const [k, t, d] = line.split(" ");
        if (k && t) committed.set(Number(k), Number(t));
        if (d) insertMs.push(Number(d));
      }
      insertMs.sort((a, b) => a - b);
      const total = RATE * SECONDS;
      for (let i = 0; i < 300 && accepted.size < total; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const loadAfter = Deno.loadavg();
      const relayCpu = (procStats(relay.pid)?.cpu ?? NaN) - cpuBefore;
      const commitsDuring = (await commits(admin, name)) - commitsBefore;
      const lat = [...committed].filter(([k]) => accepted.has(k))
        .map(([k, t]) => accepted.get(k)! - t).sort((a, b) => a - b);
      const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
      report({
        bench: "latency_probe",
        rate_per_s: RATE,
        domains: DOMAINS,
        committed: committed.size,
        received: accepted.size,
        p50_ms: round(pct(0.5)),
        p90_ms: round(pct(0.9)),
        p99_ms: round(pct(0.99)),
        max_ms: round(lat[lat.length - 1] ?? NaN),
        min_ms: round(lat[0] ?? NaN),
        // The application's side: how long its INSERT + COMMIT took (NOTIFY's lock shows here).
        app_commit_ms: {
          p50: round(insertMs[Math.floor(insertMs.length / 2)] ?? NaN),
          p99: round(insertMs[Math.floor(insertMs.length * 0.99)] ?? NaN),
        },
        // The relay's own CPU per message: what a busy machine makes it wait for.
        relay_cpu_ms_per_message: round((relayCpu * 1000) / Math.max(1, accepted.size)),
        // Every commit in the database (the application's one per message included), per message.
        commits_per_message: round(commitsDuring / Math.max(1, accepted.size)),
        loadavg_before: loadBefore,
        loadavg_after: loadAfter,
        config: EXTRA,
      });
      await relay.stop();
    } finally {
      await relay[Symbol.asyncDispose]();
    }
  } finally {
    await new Promise<void>((r) => smtp.close(() => r()));
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    await server.stop();
  }
}

/** Transactions committed in database `name` so far (the statistics lag by up to 0.5 s). */
async function commits(admin: pg.Client, name: string): Promise<number> {
  await new Promise((r) => setTimeout(r, 600));
  const { rows } = await admin.query(
    `SELECT xact_commit::float8 AS n FROM pg_stat_database WHERE datname = $1`,
    [name],
  );
  return Number(rows[0]?.n ?? NaN);
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
