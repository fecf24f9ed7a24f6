/**
 * Memory of the zero-install default: the relay as a user starts it (`deno run -A relay/main.ts`,
 * `FERRY_DATA_DIR` set, no `DATABASE_URL`) on a fresh data directory, so its embedded PGlite runs
 * initdb first, as on a first start.
 *
 * 1. idle: RSS of the whole process tree (the relay and every child) sampled every 500 ms for
 *    40 s after `relay.started`, with an empty queue.
 * 2. load: 50,000 messages to 100 domains, all routed (`FERRY_ROUTES`) to one SMTP sink on
 *    loopback (Postfix's `smtp-sink`, or npm smtp-server in this process where Postfix is
 *    missing); RSS sampled until every message is delivered. Enqueued the way an application on
 *    the embedded database does it, `POST /api/v1/messages` with a few requests in flight
 *    (FERRY_BENCH_ENQUEUE=http), or as a backlog: the relay stopped, the rows inserted into
 *    `ferry.outbox` in one transaction, the relay started again to drain them (=sql).
 *
 * Fails (exit 1) when a request is refused, when the relay exits, when the queue does not end with
 * exactly MESSAGES delivered, when the sink received fewer, or when the run exceeds its bound (5
 * minutes). The load phase's figures are printed even then, with the counts reached. Prints peak
 * idle and peak loaded RSS next to the targets (300 MB idle, 400 MB loaded); with
 * FERRY_BENCH_ASSERT_RSS=1 exceeding a target fails too (off by default: RSS also depends on the
 * machine's allocator and Deno version, so the figures are for the reader to compare).
 *
 * Knobs (environment): FERRY_BENCH_MESSAGES (50000), FERRY_BENCH_IDLE_SECONDS (40),
 * FERRY_BENCH_ENQUEUE ("http" or "sql"), FERRY_BENCH_DEADLINE_SECONDS (300, the whole run's bound),
 * FERRY_BENCH_ASSERT_RSS ("1" to assert the targets).
 *
 * Run: deno run -A tests/bench/pglite_memory_bench.ts   (or `deno task bench pglite_memory`)
 */
import assert from "node:assert/strict";
import { SMTPServer } from "smtp-server";
import { sql } from "kysely";
import { openDatabase } from "../../db/client.ts";
import { hasPostfix, startCountingSink } from "../_peers/postfix_relay.ts";
import { freePort } from "../_support/postgres_cluster.ts";
import { spawnRelay } from "../_support/relay_process.ts";
import { report } from "./_env.ts";

const env = (k: string, d: string) => Deno.env.get(`FERRY_BENCH_${k}`) ?? d;
const MESSAGES = Number(env("MESSAGES", "50000"));
const IDLE_SECONDS = Number(env("IDLE_SECONDS", "40"));
const ENQUEUE = env("ENQUEUE", "http");
const ASSERT_RSS = env("ASSERT_RSS", "0") === "1";
const DOMAINS = 100;
const IN_FLIGHT = 8;
const SAMPLE_MS = 500;
const DEADLINE_MS = Number(env("DEADLINE_SECONDS", "300")) * 1000;
const TARGET_IDLE_MB = 300;
const TARGET_LOADED_MB = 400;
/** spawnRelay's FERRY_ADMIN_TOKEN. */
const TOKEN = "relay-process-token-0123456789";
const MB = 2 ** 20;
const FINAL = ["delivered", "bounced", "expired", "cancelled", "rejected"];
// ~2 KB of plain text, in 92-character lines.
const BODY =
  ("The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n")
    .repeat(23);

const began = performance.now();
/** The running peak of the phase being sampled, for the report when the phase fails. */
let peakLoaded = 0;
const left = () => DEADLINE_MS - (performance.now() - began);
const timedOut = (what: string) =>
  new Error(`Cannot finish the benchmark as ${what} exceeded its bound of ${DEADLINE_MS} ms`);

const sink = hasPostfix ? await startCountingSink({ maxConnections: 1024 }) : await startNpmSink();
const dataDir = await Deno.makeTempDir({ prefix: "ferry-pglite-bench-" });
const start = () =>
  spawnRelay({
    dataDir,
    routes: `*=127.0.0.1:${sink.port}`,
    config: { domains: { "*": { maxConnections: 2, initialConnections: 2 } } },
  });
let relay = await start();
let stopped = false;
try {
  await relay.started(120_000);
  const idle = await sampleFor(IDLE_SECONDS * 1000, () => false);
  report({
    bench: "pglite_memory",
    phase: "idle",
    seconds: IDLE_SECONDS,
    peak_rss_mb: mb(idle.peak),
    last_rss_mb: mb(idle.last),
    target_mb: TARGET_IDLE_MB,
    sink: hasPostfix ? "smtp-sink" : "smtp-server",
    load_average: loadAverage(),
  });

  const t0 = performance.now();
  let enqueueDone = false;
  let enqueueError: unknown;
  if (ENQUEUE === "sql") {
    // Pre-queued while the relay is down, then drained by a fresh start on the same directory.
    assert.equal(await relay.stop(), 0, "the relay stops cleanly on SIGTERM");
    await insertOutbox();
    relay = await start();
    await relay.started(120_000);
    enqueueDone = true;
  } else {
    enqueueAll().then(() => (enqueueDone = true), (err) => (enqueueError = err));
  }
  let counts: Record<string, number> = {};
  const loaded = await sampleFor(left(), async (tick) => {
    if (enqueueError) throw enqueueError;
    if (!alive(relay.pid)) throw new Error(`The relay exited under load:\n${relay.tail()}`);
    if (tick % 4 !== 0) return false;
    counts = await queueCounts();
    return enqueueDone && FINAL.reduce((n, s) => n + (counts[s] ?? 0), 0) >= MESSAGES;
  }).finally(() =>
    report({
      bench: "pglite_memory",
      phase: "load",
      enqueue: ENQUEUE,
      messages: MESSAGES,
      seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
      peak_rss_mb: mb(peakLoaded),
      target_mb: TARGET_LOADED_MB,
      counts,
      sink_received: sink.received(),
      load_average: loadAverage(),
    })
  );
  if (!loaded.done) throw timedOut("delivering");
  assert.equal(sum(counts), MESSAGES, "every enqueued message has exactly one delivery");
  assert.equal(counts.delivered, MESSAGES, "every delivery ended delivered");
  assert.ok(sink.received() >= MESSAGES, `the sink received ${sink.received()} < ${MESSAGES}`);
  assert.ok(alive(relay.pid), "the relay still runs");
  if (ASSERT_RSS) {
    assert.ok(mb(idle.peak) <= TARGET_IDLE_MB, `idle RSS ${mb(idle.peak)} MB > target`);
    assert.ok(mb(loaded.peak) <= TARGET_LOADED_MB, `loaded RSS ${mb(loaded.peak)} MB > target`);
  }
  stopped = true;
  assert.equal(await relay.stop(), 0, "the relay stops cleanly on SIGTERM");
} catch (err) {
  console.error(String((err as Error)?.stack ?? err));
  Deno.exitCode = 1;
} finally {
  if (!stopped) await relay.kill9();
  await sink.stop();
  await Deno.remove(dataDir, { recursive: true }).catch(() => {});
}

/** Samples the tree's RSS every SAMPLE_MS until `done` says so or `ms` passed. */
async function sampleFor(
  ms: number,
  done: (tick: number) => boolean | Promise<boolean>,
): Promise<{ peak: number; last: number; done: boolean }> {
  const start = performance.now();
  let peak = 0;
  let last = 0;
  peakLoaded = 0;
  for (let tick = 0; performance.now() - start < ms; tick++) {
    last = treeRss(relay.pid);
    peak = Math.max(peak, last);
    peakLoaded = peak;
    if (await done(tick)) return { peak, last, done: true };
    await new Promise((r) => setTimeout(r, SAMPLE_MS));
  }
  return { peak, last, done: false };
}

/** MESSAGES rows in one transaction, with the relay stopped (PGlite is single-user). */
async function insertOutbox(): Promise<void> {
  const database = await openDatabase({ dataDir });
  try {
    // raw SQL: an application's own INSERT, as in the README.
    await sql`
      INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body)
      SELECT 'bench@ferry.test', ARRAY['u' || g || '@d' || (g % ${DOMAINS}) || '.test'],
             'Bench ' || g, ${BODY}
        FROM generate_series(0, ${MESSAGES - 1}) g`.execute(database.db);
  } finally {
    await database.close();
  }
}

/** POSTs MESSAGES messages, IN_FLIGHT at a time; any answer but 201 fails the run. */
async function enqueueAll(): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < MESSAGES) {
      if (left() <= 0) throw timedOut("enqueueing");
      const i = next++;
      const res = await fetch(`${relay.adminUrl}/api/v1/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({
          from_address: "bench@ferry.test",
          to_addresses: [`u${i}@d${i % DOMAINS}.test`],
          subject: `Bench ${i}`,
          text_body: BODY,
        }),
      });
      const text = await res.text();
      if (res.status !== 201) {
        throw new Error(`Cannot enqueue message ${i} as the API answered ${res.status}: ${text}`);
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

async function queueCounts(): Promise<Record<string, number>> {
  const res = await fetch(`${relay.adminUrl}/api/v1/queue`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`GET /api/v1/queue answered ${res.status}`);
  return body.counts;
}

/** RSS of `root` and every live descendant, in bytes (/proc, Linux). */
function treeRss(root: number): number {
  const children = new Map<number, number[]>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const ppid = field(Number(e.name), /^PPid:\s+(\d+)/m);
    if (ppid === undefined) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), Number(e.name)]);
  }
  let total = 0;
  const visit = (pid: number) => {
    total += (field(pid, /^VmRSS:\s+(\d+) kB/m) ?? 0) * 1024;
    for (const c of children.get(pid) ?? []) visit(c);
  };
  visit(root);
  return total;
}

function field(pid: number, re: RegExp): number | undefined {
  try {
    const m = re.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  return field(pid, /^Pid:\s+(\d+)/m) !== undefined;
}

function mb(bytes: number): number {
  return Math.round(bytes / MB);
}

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

function loadAverage(): number[] {
  return Deno.loadavg().map((x) => Number(x.toFixed(2)));
}

/** npm smtp-server on loopback, counting messages, where Postfix's smtp-sink is missing. */
async function startNpmSink() {
  const port = freePort();
  let count = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onData(stream, _session, callback) {
      stream.on("data", () => {});
      stream.on("end", () => {
        count++;
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port,
    received: () => count,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
