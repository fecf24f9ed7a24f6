/**
 * The latency phase of relay_bench.ts, open loop: a separate process (_open_loop_writer.ts)
 * commits one outbox row per transaction at a fixed rate; the relay process delivers each to a
 * receiver (_recording_sink.ts) that notes when it answers 250. Latency of a message = time of
 * that 250 − wall-clock time right after the application's COMMIT returned, so pick-up (polling
 * or NOTIFY) is inside it. Messages of the first `warmupS` seconds are excluded.
 *
 * @module
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { procStats, spawnRelay, treeCpu } from "../_support/relay_process.ts";
import { startRecordingSink } from "./_recording_sink.ts";
import type { WriterOptions, WriterResult } from "./_open_loop_writer.ts";
import { cpuFigure, cpuMeter } from "./_cpu_meter.ts";
import { openPgStats } from "./_pg_stats.ts";
import { loadAverage, report } from "./_env.ts";
import type { BenchDatabase } from "./_bench_database.ts";
import { reportStatements } from "./_relay_drain.ts";

export interface LatencySetup {
  fresh(name: string): Promise<BenchDatabase>;
  readonly domains: number;
  readonly body: string;
  readonly relayConfig: Record<string, unknown>;
  readonly rate: number;
  readonly seconds: number;
  readonly warmupS: number;
}

const WRITER = new URL("./_open_loop_writer.ts", import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const summary = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  const r = (x: number) => Number(x.toFixed(1));
  return { p50: r(percentile(s, 0.5)), p99: r(percentile(s, 0.99)), max: r(s.at(-1) ?? NaN) };
};

export async function latencyFerry(s: LatencySetup): Promise<void> {
  const t = await s.fresh("latency");
  const count = Math.round(s.rate * s.seconds);
  const warmup = Math.round(s.rate * s.warmupS);
  const dir = await Deno.makeTempDir({ prefix: "ferry-bench-latency-" });
  await using receiver = startRecordingSink();
  const stats = await openPgStats(t.url, false);
  await using relay = await spawnRelay({
    databaseUrl: t.url,
    routes: `*=127.0.0.1:${receiver.port}`,
    config: s.relayConfig,
  });
  await relay.started();
  const loadBefore = loadAverage();
  const pg0 = await stats.snapshot();
  const metered = performance.now();
  const meter = cpuMeter({
    relay: () => treeCpu(relay.pid),
    postgres: () => (stats.postmaster ? treeCpu(stats.postmaster) : 0),
  });
  const options: WriterOptions = {
    url: t.url,
    rate: s.rate,
    count,
    domains: s.domains,
    body: s.body,
    out: `${dir}/writer.json`,
  };
  const writer = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", WRITER, JSON.stringify(options)],
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const timer = setTimeout(() => writer.kill("SIGKILL"), (s.seconds + 60) * 1000);
  const status = await writer.status;
  clearTimeout(timer);
  assert.ok(status.success, "the open-loop writer finished");
  for (let i = 0; i < 600 && receiver.count() < count; i++) await sleep(100);
  const elapsed = (performance.now() - metered) / 1000;
  const cpu = meter();
  const loadAfter = loadAverage();
  const peakRss = procStats(relay.pid)?.peakRss ?? 0;
  const pg1 = await stats.snapshot();
  const code = await relay.stop();
  await stats.close();
  const written = JSON.parse(await Deno.readTextFile(options.out)) as WriterResult;
  await Deno.remove(dir, { recursive: true });

  // Assertions: every committed row delivered once, every message answered once.
  assert.equal(written.records.length, count, "the writer committed every row");
  const answeredAt = new Map<number, number>();
  for (const a of receiver.answered) {
    assert.ok(!answeredAt.has(a.seq), `message ${a.seq} arrived once`);
    assert.ok(a.seq >= 0 && a.seq < count, `message ${a.seq} is one the writer sent`);
    answeredAt.set(a.seq, a.at);
  }
  assert.equal(answeredAt.size, count, "the receiver answered 250 to every message");
  assert.equal(receiver.count(), count, "the receiver got nothing else");
  const { rows: [q] } = await sql<Record<string, number>>`
    SELECT (SELECT count(*)::int FROM ferry.deliveries) AS deliveries,
           (SELECT count(*)::int FROM ferry.deliveries WHERE status = 'delivered') AS delivered`
    .execute(t.db);
  assert.equal(q!.deliveries, count, "one delivery per committed row");
  assert.equal(q!.delivered, count, "every delivery delivered");
  assert.equal(code, 0, "the relay exited cleanly");

  const { rows: ingested } = await sql<{ id: string; at: number }>`
    SELECT id::text AS id, extract(epoch FROM ingested_at) * 1000 AS at FROM ferry.outbox`
    .execute(t.db);
  const ingestedAt = new Map(ingested.map((r) => [Number(r.id), Number(r.at)]));
  const measured = written.records.filter((r) => r.seq >= warmup);
  const total = measured.map((r) => answeredAt.get(r.seq)! - r.committed);
  const pickup = measured.map((r) => ingestedAt.get(r.outboxId)! - r.committed);
  const send = measured.map((r) => answeredAt.get(r.seq)! - ingestedAt.get(r.outboxId)!);
  const all = summary(total);
  report({
    bench: "relay",
    phase: "latency",
    system: "ferry",
    rate_per_s: s.rate,
    committed: count,
    warmup_excluded: warmup,
    n: measured.length,
    p50_ms: all.p50,
    p99_ms: all.p99,
    max_ms: all.max,
    commit_to_ingested_ms: summary(pickup),
    ingested_to_250_ms: summary(send),
    writer_start_lag_ms: summary(written.records.map((r) => r.began - r.due)),
    writer_commit_ms: summary(written.records.map((r) => r.committed - r.began)),
    writer_max_in_flight: written.maxInFlight,
    load_avg_before: loadBefore,
    load_avg_after: loadAfter,
    peak_rss_mb: Math.round(peakRss / 1e6),
    config: s.relayConfig,
  });
  report({
    bench: "relay",
    phase: "latency-cpu",
    system: "ferry",
    ...cpuFigure(elapsed, count, cpu),
  });
  // The writer's own commits are in these too (one per message).
  reportStatements(pg0, pg1, count, "latency-db");
  await t.drop();
}
