/**
 * The relay end to end, as a process, against Postfix from Debian:
 *
 * 1. drain: 100,000 pre-queued ~2 KB messages to 1,000 domains in `ferry.outbox`; the relay
 *    (`deno run -A relay/main.ts`) is started and delivers them into `smtp-sink` on loopback.
 *    Messages/s (relay started → last delivered_at), time to ingest, the process's peak RSS,
 *    the CPU split (relay, PostgreSQL, sink), statements and commits per message
 *    (pg_stat_statements) and a 10 s CPU profile of the relay (V8 sampling, via the inspector).
 * 2. latency: a fresh queue, rows inserted one by one at a steady 200/s for 20 s; p50/p99 of
 *    delivered_at − created_at.
 * 3. postfix: a private Postfix relaying everything to the same sink; the same number of
 *    messages injected over SMTP while held, then released; time until the sink counted them
 *    all. Reported with the ratio Ferry/Postfix.
 *
 * Needs PostgreSQL binaries (or DATABASE_URL) and Postfix (as root). One JSON line per figure.
 * Knobs (environment): FERRY_BENCH_MESSAGES (100000), FERRY_BENCH_DOMAINS (1000),
 * FERRY_BENCH_CONNECTIONS (per-domain connections, 2), FERRY_BENCH_INGEST_BATCH (outbox rows per
 * ingestion batch; default: the relay's default, 2000), FERRY_BENCH_PHASES
 * ("drain,latency,postfix"), FERRY_BENCH_PROFILE ("1": profile 10 s of the drain).
 *
 * Run: deno run -A tests/bench/relay_bench.ts   (or `deno task bench relay`)
 */
import { sql } from "kysely";
import pg from "pg";
import { openDatabase } from "../../db/client.ts";
import { migrate } from "../../db/migrate.ts";
import { composeMessage } from "../../relay/mime/mod.ts";
import { systemClock } from "../../lib/clock.ts";
import {
  type CountingSink,
  hasPostfix,
  injectSmtp,
  startCountingSink,
  startPostfixRelay,
} from "../_peers/postfix_relay.ts";
import { machineCpu, procStats, spawnRelay, treeCpu } from "../_support/relay_process.ts";
import { inspectorUrl, profileCpu, type ProfileSummary } from "./_cpu_profile.ts";
import { openPgStats, type PgSnapshot, statementDelta } from "./_pg_stats.ts";
import { benchServer, report } from "./_env.ts";

const env = (k: string, d: string) => Deno.env.get(`FERRY_BENCH_${k}`) ?? d;
const MESSAGES = Number(env("MESSAGES", "100000"));
const DOMAINS = Number(env("DOMAINS", "1000"));
const CONNECTIONS = Number(env("CONNECTIONS", "2"));
const INGEST_BATCH = Deno.env.get("FERRY_BENCH_INGEST_BATCH");
const PHASES = env("PHASES", "drain,latency,postfix").split(",");
const PROFILE = env("PROFILE", "1") === "1";
const LATENCY_RATE = 200;
const LATENCY_SECONDS = 20;

/**
 * The relay's configuration for the runs: every destination may use CONNECTIONS connections
 * from the start (the sink needs no slow start; more than 2 per domain only costs smtp-sink,
 * which polls every socket, more CPU) and enough actors for every domain at once. Ingestion
 * batches are the relay's default (raised from 500, with which each batch's round trips waited
 * behind the busy event loop and ingestion, not delivery, set the pace) unless set.
 */
const FERRY_CONFIG = {
  ...(INGEST_BATCH ? { queue: { ingestBatch: Number(INGEST_BATCH) } } : {}),
  domains: { "*": { maxConnections: CONNECTIONS, initialConnections: CONNECTIONS } },
  delivery: { maxActors: Math.max(2000, DOMAINS) },
};
/**
 * Postfix: everything goes to one next hop (the sink), so its queue manager sees one destination;
 * 100 smtp processes, all allowed to deliver to it at once (the default would be 20). 50 and 200
 * gave the same rate within noise on this machine.
 */
const POSTFIX_TUNING = { processLimit: 100, destinationConcurrency: 100 };

// ~2 KB of plain text, in 92-character lines.
const BODY =
  ("The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n")
    .repeat(23);
/** Where the recipient goes in the sample message fed to Postfix. */
const TO_MARK = "\u0000TO\u0000";
const recipient = (i: number) => `u${i}@d${i % DOMAINS}.test`;

if (!hasPostfix) {
  report({ bench: "relay", skipped: "Postfix (smtp-sink) is not installed or not root" });
  Deno.exit(0);
}

const server = await benchServer();
const admin = new pg.Client({ connectionString: server.url });
let sink: CountingSink | undefined;
try {
  // pg_stat_statements needs a restart to load: only on the benchmark's own cluster.
  await (await openPgStats(server.url, !Deno.env.get("DATABASE_URL"))).close();
  await admin.connect();
  sink = await startCountingSink({ maxConnections: Math.max(1024, 2 * DOMAINS * CONNECTIONS) });
  await run(sink, await composeSample());
} finally {
  await sink?.stop();
  await admin.end().catch(() => {});
  await server.stop();
}

async function run(sink: CountingSink, sample: string): Promise<void> {
  const ferryRate = PHASES.includes("drain") ? await drainFerry(sink, sample) : undefined;
  if (PHASES.includes("latency")) await latencyFerry(sink);
  const postfixRate = PHASES.includes("postfix") ? await drainPostfix(sink, sample) : undefined;
  if (ferryRate && postfixRate) {
    report({
      bench: "relay",
      phase: "ratio",
      ferry_per_s: ferryRate,
      postfix_per_s: postfixRate,
      ferry_over_postfix: Number((ferryRate / postfixRate).toFixed(2)),
    });
  }
}

/** A fresh database on the server, migrated; dropped by `drop`. */
async function freshDatabase(name: string) {
  const db = `ferry_bench_${name}_${Deno.pid}`;
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${db}`);
  const u = new URL(server.url);
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

async function drainFerry(sink: CountingSink, sample: string): Promise<number> {
  const t = await freshDatabase("drain");
  const insertStart = performance.now();
  await sql`
    INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body)
    SELECT 'Bench <bench@ferry.test>', ARRAY['u' || g || '@d' || (g % ${DOMAINS}) || '.test'],
           'Bench message ' || g, ${BODY}
      FROM generate_series(0, ${MESSAGES - 1}) g`.execute(t.db);
  const insertS = (performance.now() - insertStart) / 1000;
  const stats = await openPgStats(t.url, false);
  await stats.reset();
  const pg0 = await stats.snapshot();
  const sink0 = sink.received();
  let inspector: string | undefined;
  const spawned = performance.now();
  await using relay = await spawnRelay({
    databaseUrl: t.url,
    routes: `*=127.0.0.1:${sink.port}`,
    config: FERRY_CONFIG,
    denoFlags: PROFILE ? ["--inspect=127.0.0.1:0"] : [],
    onLine: (line) => (inspector ??= inspectorUrl(line)),
  });
  await relay.started();
  const startedAt = Date.now();
  const startupS = (performance.now() - spawned) / 1000;
  const meter = cpuMeter({
    relay: () => procStats(relay.pid)?.cpu ?? 0,
    postgres: () => (stats.postmaster ? treeCpu(stats.postmaster) : 0),
    sink: () => procStats(sink.pid)?.cpu ?? 0,
  });
  let ingestS: number | undefined;
  let peakRss = 0;
  let profile: Promise<ProfileSummary> | undefined;
  const progress: number[] = [];
  for (let i = 0; i < 4 * 600; i++) {
    await new Promise((r) => setTimeout(r, 250));
    peakRss = Math.max(peakRss, procStats(relay.pid)?.rss ?? 0);
    const received = sink.received() - sink0;
    if (i % 20 === 19) progress.push(received);
    if (ingestS === undefined) {
      const { rows } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM ferry.outbox WHERE ingested_at IS NULL`.execute(t.db);
      if (rows[0]!.n === 0) ingestS = (Date.now() - startedAt) / 1000;
    }
    // Profile the steady state: from 30% on, for 10 s or half of the estimated time left.
    if (PROFILE && !profile && inspector && received >= MESSAGES * 0.3) {
      const left = ((MESSAGES - received) / received) * (Date.now() - startedAt);
      profile = profileCpu(inspector, Math.min(10_000, left / 2));
    }
    if (received >= MESSAGES) break;
  }
  // The sink counts at "."; the outcome is written just after: wait (bounded) for the rows.
  let delivered = 0;
  for (let i = 0; i < 300 && delivered < MESSAGES; i++) {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM ferry.deliveries WHERE status = 'delivered'`.execute(t.db);
    delivered = rows[0]!.n;
    if (delivered < MESSAGES) await new Promise((r) => setTimeout(r, 100));
  }
  const proc = procStats(relay.pid);
  const cpu = meter();
  const pg1 = await stats.snapshot();
  const profiled = await profile;
  const { rows: [span] } = await sql<{ last: Date }>`
    SELECT max(delivered_at) AS last FROM ferry.deliveries`.execute(t.db);
  const drainS = (new Date(span!.last).getTime() - startedAt) / 1000;
  const code = await relay.stop();
  const rate = Math.round(delivered / drainS);
  report({
    bench: "relay",
    phase: "drain",
    system: "ferry",
    messages: MESSAGES,
    domains: DOMAINS,
    message_bytes: sample.length,
    delivered,
    received_at_sink: sink.received() - sink0,
    insert_s: round(insertS),
    startup_s: round(startupS),
    ingest_s: ingestS === undefined ? null : round(ingestS),
    drain_s: round(drainS),
    messages_per_s: rate,
    delivered_per_5s: progress,
    peak_rss_mb: Math.round(Math.max(peakRss, proc?.peakRss ?? 0) / 1e6),
    exit_code: code,
    config: FERRY_CONFIG,
    events: Object.fromEntries(relay.events),
  });
  reportCpu("ferry", drainS, delivered, cpu);
  reportStatements(pg0, pg1, delivered);
  if (profiled) report({ bench: "relay", phase: "drain-profile", ...profiled });
  await stats.close();
  await t.drop();
  return rate;
}

async function latencyFerry(sink: CountingSink): Promise<void> {
  const t = await freshDatabase("latency");
  await using relay = await spawnRelay({
    databaseUrl: t.url,
    routes: `*=127.0.0.1:${sink.port}`,
    config: FERRY_CONFIG,
  });
  await relay.started();
  const total = LATENCY_RATE * LATENCY_SECONDS;
  const start = performance.now();
  let late = 0;
  for (let k = 0; k < total; k++) {
    const wait = start + (k * 1000) / LATENCY_RATE - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else if (wait < -50) late++;
    await sql`
      INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body)
      VALUES ('Bench <bench@ferry.test>', ARRAY[${recipient(k)}], ${`Latency ${k}`}, ${BODY})`
      .execute(t.db);
  }
  const insertS = (performance.now() - start) / 1000;
  let delivered = 0;
  for (let i = 0; i < 600 && delivered < total; i++) {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM ferry.deliveries WHERE status = 'delivered'`.execute(t.db);
    delivered = rows[0]!.n;
    if (delivered < total) await new Promise((r) => setTimeout(r, 100));
  }
  // Insert to 250, and its two parts: insert to ingested, ingested to 250.
  const { rows: [p] } = await sql<Record<string, number>>`
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total) AS p50,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY total) AS p99, max(total) AS max,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY pickup) AS pickup_p50,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY pickup) AS pickup_p99,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY send) AS send_p50,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY send) AS send_p99
      FROM (SELECT extract(epoch FROM d.delivered_at - o.created_at) * 1000 AS total,
                   extract(epoch FROM o.ingested_at - o.created_at) * 1000 AS pickup,
                   extract(epoch FROM d.delivered_at - o.ingested_at) * 1000 AS send
              FROM ferry.deliveries d JOIN ferry.outbox o ON o.id = d.outbox_id
             WHERE d.status = 'delivered') x`.execute(t.db);
  await relay.stop();
  report({
    bench: "relay",
    phase: "latency",
    system: "ferry",
    rate_per_s: LATENCY_RATE,
    inserted: total,
    insert_s: round(insertS),
    inserts_late_over_50ms: late,
    delivered,
    p50_ms: Math.round(Number(p!.p50)),
    p99_ms: Math.round(Number(p!.p99)),
    max_ms: Math.round(Number(p!.max)),
    insert_to_ingested_ms: {
      p50: Math.round(Number(p!.pickup_p50)),
      p99: Math.round(Number(p!.pickup_p99)),
    },
    ingested_to_250_ms: {
      p50: Math.round(Number(p!.send_p50)),
      p99: Math.round(Number(p!.send_p99)),
    },
  });
  await t.drop();
}

async function drainPostfix(sink: CountingSink, sample: string): Promise<number> {
  await using postfix = await startPostfixRelay(sink.port, POSTFIX_TUNING);
  const [head, tail] = [
    sample.slice(0, sample.indexOf(TO_MARK)),
    sample.slice(sample.indexOf(TO_MARK) + TO_MARK.length),
  ];
  const injectStart = performance.now();
  await injectSmtp(postfix.port, {
    messages: MESSAGES,
    sessions: 8,
    from: "bench@ferry.test",
    recipient,
    message: (i) => `${head}${recipient(i)}${tail}`,
  });
  const injectS = (performance.now() - injectStart) / 1000;
  for (let i = 0; i < 600 && postfix.held() < MESSAGES; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const held = postfix.held();
  const sink0 = sink.received();
  const meter = cpuMeter({
    postfix: () => treeCpu(postfix.pid),
    sink: () => procStats(sink.pid)?.cpu ?? 0,
  });
  const start = performance.now();
  await postfix.release();
  let received = 0;
  for (let i = 0; i < 10 * 600 && received < MESSAGES; i++) {
    await new Promise((r) => setTimeout(r, 100));
    received = sink.received() - sink0;
  }
  const drainS = (performance.now() - start) / 1000;
  const cpu = meter();
  const rate = Math.round(received / drainS);
  report({
    bench: "relay",
    phase: "drain",
    system: "postfix",
    messages: MESSAGES,
    domains: DOMAINS,
    held,
    received_at_sink: received,
    inject_s: round(injectS),
    drain_s: round(drainS),
    messages_per_s: rate,
    tuning: POSTFIX_TUNING,
  });
  reportCpu("postfix", drainS, received, cpu);
  return rate;
}

/**
 * CPU seconds of named parts over a run, plus the benchmark process itself and "other": what the
 * machine spent beyond all of them (other tenants of a shared machine, kernel threads).
 */
function cpuMeter(parts: Record<string, () => number>) {
  const read = () => ({
    machine: machineCpu(),
    self: procStats(Deno.pid)?.cpu ?? 0,
    parts: Object.fromEntries(Object.entries(parts).map(([k, f]) => [k, f()])),
  });
  const a = read();
  return () => {
    const b = read();
    const used: Record<string, number> = {};
    for (const k of Object.keys(parts)) used[k] = b.parts[k]! - a.parts[k]!;
    used.bench = b.self - a.self;
    const busy = b.machine.busy - a.machine.busy;
    used.other = Math.max(0, busy - Object.values(used).reduce((x, y) => x + y, 0));
    return { used, busyPct: Math.round((100 * busy) / (b.machine.total - a.machine.total)) };
  };
}

function reportCpu(
  system: string,
  seconds: number,
  messages: number,
  cpu: { used: Record<string, number>; busyPct: number },
): void {
  const per = (f: (v: number) => number) =>
    Object.fromEntries(Object.entries(cpu.used).map(([k, v]) => [k, f(v)]));
  report({
    bench: "relay",
    phase: "drain-cpu",
    system,
    cores: navigator.hardwareConcurrency,
    machine_busy_pct: cpu.busyPct,
    cpu_s: per(round),
    cores_used: per((v) => Number((v / seconds).toFixed(2))),
    cpu_ms_per_message: per((v) => Number(((1000 * v) / messages).toFixed(3))),
  });
}

function reportStatements(a: PgSnapshot, b: PgSnapshot, messages: number): void {
  const delta = statementDelta(a, b);
  const calls = delta.reduce((n, s) => n + s.calls, 0);
  report({
    bench: "relay",
    phase: "drain-db",
    commits_per_message: Number(((b.commits - a.commits) / messages).toFixed(2)),
    statements_per_message: delta.length ? Number((calls / messages).toFixed(2)) : null,
    top_statements: delta.slice(0, 8).map((s) => ({
      per_message: Number((s.calls / messages).toFixed(3)),
      rows_per_call: Number((s.rows / s.calls).toFixed(1)),
      ms_per_call: Number((s.totalMs / s.calls).toFixed(2)),
      total_s: round(s.totalMs / 1000),
      query: s.query.replace(/\s+/g, " ").slice(0, 90),
    })),
  });
}

/**
 * One message as Ferry composes it (relay/mime), with the recipient marked, so Postfix is fed the
 * same bytes Ferry sends (only To differs per message).
 */
async function composeSample(): Promise<string> {
  const composed = await composeMessage({
    id: 1,
    from: "Bench <bench@ferry.test>",
    to: ["u1@d1.test"],
    cc: [],
    bcc: [],
    replyTo: null,
    subject: "Bench message 1",
    text: BODY,
    html: null,
    headers: null,
    raw: null,
    createdAt: new Date(),
  }, { messageIdDomain: "relay.test", clock: systemClock });
  if (composed.kind !== "composed") {
    throw new Error(`Cannot compose the sample message: ${composed.reason}`);
  }
  const text = new TextDecoder().decode(composed.message.bytes).replace(/\r\n$/, "");
  return text.replace("u1@d1.test", TO_MARK);
}

function round(x: number): number {
  return Number(x.toFixed(2));
}
