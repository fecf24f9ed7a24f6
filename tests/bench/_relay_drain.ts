/**
 * The Ferry drain of relay_bench.ts: a backlog pre-queued in `ferry.outbox` delivered by the
 * relay process into `smtp-sink` (_postfix_drain.ts sends the same backlog through Postfix). Both
 * rates are timed the same way (from the start of delivery until the sink counted the last
 * message, polled every 50 ms), and every figure is printed only after its assertions held.
 *
 * @module
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import type { CountingSink } from "../_peers/postfix_relay.ts";
import { procStats, spawnRelay, treeCpu } from "../_support/relay_process.ts";
import { inspectorUrl, profileCpu, type ProfileSummary } from "./_cpu_profile.ts";
import { openPgStats, type PgSnapshot, statementDelta } from "./_pg_stats.ts";
import { cpuFigure, cpuMeter } from "./_cpu_meter.ts";
import { assertSignature, type BenchKey } from "./_dkim_probe.ts";
import { startRecordingSink } from "./_recording_sink.ts";
import { loadAverage, report } from "./_env.ts";
import type { BenchDatabase } from "./_bench_database.ts";

export interface DrainSetup {
  readonly sink: CountingSink;
  /** A fresh migrated database for a run. */
  fresh(name: string): Promise<BenchDatabase>;
  readonly messages: number;
  readonly domains: number;
  readonly body: string;
  /** The sample message (Ferry's bytes) with the recipient marked, for Postfix. */
  readonly sample: string;
  readonly toMark: string;
  readonly relayConfig: Record<string, unknown>;
}

export interface FerryDrain {
  /** `unsigned`, or the DKIM algorithm. */
  readonly label: string;
  readonly key?: BenchKey;
  /** Profile the relay (with the inspector on: never a headline figure). */
  readonly profile?: boolean;
  /** Messages of this run (default: the setup's). */
  readonly messages?: number;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const round = (x: number) => Number(x.toFixed(2));
/** The recipient of backlog message i (as the drain's INSERT makes them). */
export const recipient = (i: number, domains: number) => `u${i}@d${i % domains}.test`;

/**
 * What a drain measured: its rate, and the CPU ms per message it cost (Ferry: relay plus
 * PostgreSQL; Postfix: its process tree), which a busy shared machine distorts less than rates.
 */
export interface DrainResult {
  readonly rate: number;
  readonly cpuMsPerMessage: number;
}

/** CPU ms per message from CPU seconds. */
export const perMessage = (seconds: number, messages: number) =>
  Number(((1000 * seconds) / messages).toFixed(3));

/** Drains a fresh backlog through the relay process. */
export async function drainFerry(s: DrainSetup, run: FerryDrain): Promise<DrainResult> {
  const messages = run.messages ?? s.messages;
  const t = await s.fresh(`drain_${run.label.replace(/\W/g, "_")}`);
  const insertStart = performance.now();
  await sql`
    INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body)
    SELECT 'Bench <bench@ferry.test>', ARRAY['u' || g || '@d' || (g % ${s.domains}) || '.test'],
           'Bench message ' || g, ${s.body}
      FROM generate_series(0, ${messages - 1}) g`.execute(t.db);
  const insertS = (performance.now() - insertStart) / 1000;
  const stats = await openPgStats(t.url, false);
  await stats.reset();
  const pg0 = await stats.snapshot();
  // One probe to its own receiver after the drain: the signature (or its absence) as received.
  await using probeSink = startRecordingSink();
  const config = {
    ...s.relayConfig,
    routes: [{ pattern: "probe.test", host: "127.0.0.1", port: probeSink.port }],
    ...(run.key ? { dkim: [run.key.config] } : {}),
  };
  const sink0 = s.sink.received();
  let inspector: string | undefined;
  const loadBefore = loadAverage();
  const spawned = performance.now();
  await using relay = await spawnRelay({
    databaseUrl: t.url,
    routes: `*=127.0.0.1:${s.sink.port}`,
    config,
    denoFlags: run.profile ? ["--inspect=127.0.0.1:0"] : [],
    onLine: (line) => (inspector ??= inspectorUrl(line)),
  });
  await relay.started();
  const start = performance.now();
  // Timed from here, like Postfix from its release: what arrived before is reported, not hidden.
  const receivedBeforeStarted = s.sink.received() - sink0;
  const startedAt = Date.now();
  const startupS = (start - spawned) / 1000;
  const meter = cpuMeter({
    relay: () => treeCpu(relay.pid),
    postgres: () => (stats.postmaster ? treeCpu(stats.postmaster) : 0),
    sink: () => procStats(s.sink.pid)?.cpu ?? 0,
  });
  let ingestS: number | undefined;
  let peakRss = 0;
  let profile: Promise<ProfileSummary> | undefined;
  const perSecond: number[] = [];
  let received = 0;
  // Bounded: 20 minutes of 50 ms polls.
  for (let i = 1; i <= 20 * 60 * 20 && received < messages; i++) {
    await sleep(50);
    received = s.sink.received() - sink0;
    if (i % 20 === 0) {
      perSecond.push(received - perSecond.reduce((a, b) => a + b, 0));
      peakRss = Math.max(peakRss, procStats(relay.pid)?.rss ?? 0);
    }
    if (ingestS === undefined && i % 5 === 0) {
      const { rows } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM ferry.outbox WHERE ingested_at IS NULL`.execute(t.db);
      if (rows[0]!.n === 0) ingestS = (Date.now() - startedAt) / 1000;
    }
    // Profile the steady state: from 30% on, for 10 s or half of the estimated time left.
    if (run.profile && !profile && inspector && received >= messages * 0.3) {
      const left = ((messages - received) / received) * (performance.now() - start);
      profile = profileCpu(inspector, Math.max(500, Math.min(10_000, left / 2)));
    }
  }
  const drainS = (performance.now() - start) / 1000;
  const cpu = meter();
  const loadAfter = loadAverage();
  const proc = procStats(relay.pid);
  // The sink counts at "."; the outcome is written just after: wait (bounded) for the rows.
  let delivered = 0;
  for (let i = 0; i < 300 && delivered < messages; i++) {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM ferry.deliveries WHERE status = 'delivered'`.execute(t.db);
    delivered = rows[0]!.n;
    if (delivered < messages) await sleep(100);
  }
  const pg1 = await stats.snapshot();
  const profiled = await profile;
  const { rows: [last] } = await sql<{ last: Date }>`
    SELECT max(delivered_at) AS last FROM ferry.deliveries`.execute(t.db);
  // The probe, sent once the measured drain is over.
  await sql`
    INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body)
    VALUES ('Bench <bench@ferry.test>', ARRAY['probe@probe.test'], 'Probe', ${s.body})`
    .execute(t.db);
  for (let i = 0; i < 300 && probeSink.kept.length === 0; i++) await sleep(100);
  const code = await relay.stop();

  // Assertions before any figure: all delivered exactly once, counts match at the sink.
  const { rows: [q] } = await sql<Record<string, number>>`
    SELECT (SELECT count(*)::int FROM ferry.outbox) AS outbox,
           (SELECT count(*)::int FROM ferry.outbox WHERE ingested_at IS NULL) AS not_ingested,
           (SELECT count(*)::int FROM ferry.deliveries) AS deliveries,
           (SELECT count(DISTINCT outbox_id)::int FROM ferry.deliveries) AS outbox_ids,
           (SELECT count(*)::int FROM ferry.deliveries WHERE status = 'delivered') AS delivered,
           (SELECT coalesce(max(attempts), 0)::int FROM ferry.deliveries) AS max_attempts`
    .execute(t.db);
  const what = `the ${run.label} drain`;
  assert.equal(q!.outbox, messages + 1, `${what}: backlog and probe in the outbox`);
  assert.equal(q!.not_ingested, 0, `${what}: every outbox row ingested`);
  assert.equal(q!.deliveries, messages + 1, `${what}: one delivery per row`);
  assert.equal(q!.outbox_ids, messages + 1, `${what}: no row ingested twice`);
  assert.equal(q!.delivered, messages + 1, `${what}: every delivery delivered`);
  assert.equal(q!.max_attempts, 1, `${what}: every delivery in one attempt`);
  assert.equal(received, messages, `${what}: the sink counted every message`);
  assert.equal(s.sink.received() - sink0, messages, `${what}: the sink counted none twice`);
  assert.equal(probeSink.count(), 1, `${what}: the probe arrived once`);
  await assertSignature(probeSink.kept[0]!, run.key);
  assert.equal(code, 0, `${what}: the relay exited cleanly`);
  assert.ok(!relay.events.has("process.unhandled"), `${what}: no unhandled error`);

  const rate = Math.round(messages / drainS);
  const figure = {
    bench: "relay",
    phase: run.profile ? "drain-profiled" : "drain",
    system: "ferry",
    dkim: run.key?.algorithm ?? "none",
    messages,
    domains: s.domains,
    message_bytes: s.sample.length - s.toMark.length + "u0@d0.test".length,
    delivered: q!.delivered - 1,
    received_at_sink: received,
    received_before_started: receivedBeforeStarted,
    insert_s: round(insertS),
    startup_s: round(startupS),
    ingest_s: ingestS === undefined ? null : round(ingestS),
    drain_s: round(drainS),
    messages_per_s: rate,
    last_delivered_at_s: round((new Date(last!.last).getTime() - startedAt) / 1000),
    received_per_s: perSecond,
    peak_rss_mb: Math.round(Math.max(peakRss, proc?.peakRss ?? 0) / 1e6),
    load_avg_before: loadBefore,
    load_avg_after: loadAfter,
    config,
    events: Object.fromEntries(relay.events),
  };
  report(figure);
  if (!run.profile) {
    report({
      bench: "relay",
      phase: "drain-cpu",
      system: "ferry",
      dkim: figure.dkim,
      ...cpuFigure(drainS, messages, cpu),
    });
    if (!run.key) reportStatements(pg0, pg1, messages);
  }
  if (profiled) report({ bench: "relay", phase: "drain-profile", ...profiled });
  await stats.close();
  await t.drop();
  return { rate, cpuMsPerMessage: perMessage(cpu.used.relay! + cpu.used.postgres!, messages) };
}

/** Commits and the busiest statements per message between two snapshots (phase `drain-db` etc.). */
export function reportStatements(
  a: PgSnapshot,
  b: PgSnapshot,
  messages: number,
  phase = "drain-db",
): void {
  const delta = statementDelta(a, b);
  const calls = delta.reduce((n, s) => n + s.calls, 0);
  report({
    bench: "relay",
    phase,
    commits_per_message: Number(((b.commits - a.commits) / messages).toFixed(3)),
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
