/**
 * Memory with a big backlog: 1,000,000 queued deliveries over 100,000 domains, inserted first
 * (or, with FERRY_MEMORY_STAGE=outbox, as outbox rows the relay ingests itself); then the relay runs as a process (`deno run -A relay/main.ts`, against
 * PostgreSQL at its durable defaults, default `delivery.maxActors`) and works through them into a
 * receiver on 127.0.0.1 that accepts everything. The resident memory of the relay and of every
 * child it has is sampled once a second while it works; reported with what it got done
 * (ingested, attempted, distinct destinations attempted, delivered) so that a relay that does
 * nothing cannot pass, and the load average (the machine is shared: it sets the pace).
 *
 * Checked before printing: the relay still runs, every outbox row was ingested, deliveries were
 * made, RSS was sampled about once a second, and the peak stayed within
 * `FERRY_MEMORY_MAX_RSS_MB` (default 256).
 *
 * Knobs (environment): FERRY_MEMORY_DELIVERIES (1000000), FERRY_MEMORY_DOMAINS (100000),
 * FERRY_MEMORY_SECONDS (window, 300), FERRY_MEMORY_MAX_RSS_MB (256), FERRY_MEMORY_STAGE
 * (queued | outbox),
 * FERRY_MEMORY_MAX_ACTORS (delivery.maxActors; default: the relay's), FERRY_MEMORY_V8_FLAGS (passed
 * to the relay's `deno run` as `--v8-flags=` instead of the start task's, e.g.
 * `--max-old-space-size=160`; a labelled variant). Without it the relay runs with the V8 flags
 * `deno task start` and the Dockerfile's binary use.
 *
 * Run: deno run -A tests/bench/memory_bench.ts
 */
import assert from "node:assert/strict";
import { openDatabase } from "../../db/client.ts";
import { migrate } from "../../db/migrate.ts";
import { spawnRelay, startTaskV8Flags, treeCpu } from "../_support/relay_process.ts";
import { benchServer, report } from "./_env.ts";
import {
  backlogStage,
  insertBacklog,
  loadAverage,
  maxActorsLabel,
  mb,
  type Progress,
  progress,
  startReceiver,
  treeRss,
} from "./_backlog.ts";

const env = (k: string, d: string) => Number(Deno.env.get(`FERRY_MEMORY_${k}`) ?? d);
const DELIVERIES = env("DELIVERIES", "1000000");
const DOMAINS = env("DOMAINS", "100000");
const SECONDS = env("SECONDS", "300");
const MAX_RSS_MB = env("MAX_RSS_MB", "256");

const STAGE = backlogStage(Deno.env.get("FERRY_MEMORY_STAGE"));

const MAX_ACTORS = Deno.env.get("FERRY_MEMORY_MAX_ACTORS");
const V8_FLAGS = Deno.env.get("FERRY_MEMORY_V8_FLAGS");

const server = await benchServer();
const database = await openDatabase({ url: server.url, poolSize: 2 });
try {
  await migrate(database.db);
  const insertStart = performance.now();
  await insertBacklog(database.db, DELIVERIES, DOMAINS, STAGE);
  const insertS = (performance.now() - insertStart) / 1000;
  await using receiver = await startReceiver("accept");
  const loadBefore = loadAverage();
  await using relay = await spawnRelay({
    ...(V8_FLAGS ? { denoFlags: [`--v8-flags=${V8_FLAGS}`] } : {}),
    databaseUrl: server.url,
    routes: `*=127.0.0.1:${receiver.port}`,
    // Every destination is on the one loopback receiver here; on the Internet each has its own
    // MX hosts, which the per-host cap (default 20) would not bind together.
    config: {
      delivery: {
        maxConnectionsPerHost: 20_000,
        ...(MAX_ACTORS ? { maxActors: Number(MAX_ACTORS) } : {}),
      },
    },
  });
  const started = performance.now();
  const cpuBefore = treeCpu(relay.pid);
  let peakRss = 0;
  let processes = 0;
  let samples = 0;
  let last: Progress | undefined;
  const timeline: { s: number; rssMb: number; ingested: number; delivered: number }[] = [];
  for (let s = 1; s <= SECONDS; s++) {
    await new Promise((r) => setTimeout(r, Math.max(0, started + s * 1000 - performance.now())));
    const rss = treeRss(relay.pid);
    if (rss.processes === 0) break; // the relay is gone: asserted below
    samples++;
    peakRss = Math.max(peakRss, rss.total);
    processes = Math.max(processes, rss.processes);
    if (s % 10 === 0 || s === SECONDS) {
      last = await progress(database.db);
      timeline.push({
        s,
        rssMb: mb(rss.total),
        ingested: last.ingested,
        delivered: last.delivered,
      });
      if (last.delivered === DELIVERIES) break;
    }
  }
  const windowS = (performance.now() - started) / 1000;
  const alive = treeRss(relay.pid).processes > 0;
  // CPU seconds the relay got in the window: on a shared machine, what paced it.
  const relayCpuS = Number((treeCpu(relay.pid) - cpuBefore).toFixed(1));
  const final = last ?? await progress(database.db);
  const loadAfter = loadAverage();
  const figures = {
    bench: "memory",
    deliveries: DELIVERIES,
    stage: STAGE,
    max_actors: maxActorsLabel(MAX_ACTORS),
    ...(V8_FLAGS
      ? { variant: `--v8-flags=${V8_FLAGS}` }
      : { v8_flags: (await startTaskV8Flags()) ?? "none" }),
    domains: DOMAINS,
    insert_s: Number(insertS.toFixed(1)),
    window_s: Number(windowS.toFixed(1)),
    ingested: final.ingested,
    attempts: final.attempts,
    attempted: final.attempted,
    domains_attempted: final.domainsAttempted,
    delivered: final.delivered,
    receiver_accepted: receiver.accepted(),
    receiver_peak_sessions: receiver.peakSessions(),
    peak_rss_mb: mb(peakRss),
    relay_cpu_s: relayCpuS,
    processes,
    rss_samples: samples,
    load_before: loadBefore,
    load_after: loadAfter,
    timeline,
  };
  assert.ok(alive, `the relay exited during the run:\n${relay.tail()}`);
  assert.ok(samples >= windowS * 0.9 - 1, `RSS sampled ${samples} times in ${windowS} s`);
  assert.equal(final.ingested, DELIVERIES, `every outbox row ingested: ${JSON.stringify(figures)}`);
  assert.ok(final.delivered > 0, "deliveries made");
  assert.ok(
    mb(peakRss) <= MAX_RSS_MB,
    `peak RSS ${mb(peakRss)} MB over ${MAX_RSS_MB} MB (${final.delivered} delivered, ` +
      `${final.domainsAttempted} destinations attempted): ${JSON.stringify(timeline)}`,
  );
  report(figures);
  await relay.stop();
} finally {
  await database.close();
  await server.stop();
}
