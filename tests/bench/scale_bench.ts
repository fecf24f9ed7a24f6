/**
 * Progress across many destinations: 300,000 queued deliveries over 100,000 domains whose
 * receiver answers `451 4.7.1` at RCPT TO, so every destination defers. The backlog is inserted
 * first, as queued deliveries (or, with FERRY_SCALE_STAGE=outbox, as outbox rows the relay
 * ingests itself); then the relay runs as a process (`deno run -A relay/main.ts`,
 * against PostgreSQL at its durable defaults, `delivery.maxActors` at its default of 2,000) for
 * a fixed window. Reports how many distinct destinations were attempted in the window (from the
 * database and, independently, at the receiver), deliveries ingested and attempted, the peak RSS
 * of the relay and its children, and the load average. A destination with nothing due must give
 * its actor slot back, so `maxActors` bounds memory, not progress.
 *
 * Checked before printing: the relay still runs, every outbox row was ingested, RSS was sampled
 * about once a second, and at least `FERRY_SCALE_MIN_DOMAINS` distinct destinations were attempted
 * (default 20,000; the figure is printed whatever it is).
 *
 * Knobs (environment): FERRY_SCALE_DELIVERIES (300000), FERRY_SCALE_DOMAINS (100000),
 * FERRY_SCALE_SECONDS (120), FERRY_SCALE_MIN_DOMAINS (20000), FERRY_SCALE_STAGE (queued | outbox),
 * FERRY_SCALE_MAX_ACTORS (delivery.maxActors; default: the relay's).
 *
 * Run: deno run -A tests/bench/scale_bench.ts   (or `deno task bench scale`)
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

const env = (k: string, d: string) => Number(Deno.env.get(`FERRY_SCALE_${k}`) ?? d);
const DELIVERIES = env("DELIVERIES", "300000");
const DOMAINS = env("DOMAINS", "100000");
const SECONDS = env("SECONDS", "120");
const MIN_DOMAINS = env("MIN_DOMAINS", "20000");

const STAGE = backlogStage(Deno.env.get("FERRY_SCALE_STAGE"));

const MAX_ACTORS = Deno.env.get("FERRY_SCALE_MAX_ACTORS");

const server = await benchServer();
const database = await openDatabase({ url: server.url, poolSize: 2 });
try {
  await migrate(database.db);
  const insertStart = performance.now();
  await insertBacklog(database.db, DELIVERIES, DOMAINS, STAGE);
  const insertS = (performance.now() - insertStart) / 1000;
  await using receiver = await startReceiver("defer");
  const loadBefore = loadAverage();
  await using relay = await spawnRelay({
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
  const timeline: { s: number; rssMb: number; ingested: number; domains: number }[] = [];
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
        domains: last.domainsAttempted,
      });
    }
  }
  const windowS = (performance.now() - started) / 1000;
  const alive = treeRss(relay.pid).processes > 0;
  // CPU seconds the relay got in the window: on a shared machine, what paced it.
  const relayCpuS = Number((treeCpu(relay.pid) - cpuBefore).toFixed(1));
  const final = last ?? await progress(database.db);
  const loadAfter = loadAverage();
  const figures = {
    bench: "scale",
    deliveries: DELIVERIES,
    stage: STAGE,
    max_actors: maxActorsLabel(MAX_ACTORS),
    v8_flags: (await startTaskV8Flags()) ?? "none",
    domains: DOMAINS,
    insert_s: Number(insertS.toFixed(1)),
    window_s: Number(windowS.toFixed(1)),
    ingested: final.ingested,
    attempts: final.attempts,
    attempted: final.attempted,
    domains_attempted: final.domainsAttempted,
    receiver_rcpts: receiver.rcpts(),
    receiver_domains: receiver.domains(),
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
  assert.ok(samples >= SECONDS * 0.9, `RSS sampled ${samples} times in ${SECONDS} s`);
  assert.equal(final.ingested, DELIVERIES, `every outbox row ingested: ${JSON.stringify(figures)}`);
  assert.ok(
    final.domainsAttempted >= MIN_DOMAINS,
    `${final.domainsAttempted} distinct destinations attempted in ${SECONDS} s, fewer than ${MIN_DOMAINS}: ${
      JSON.stringify(figures)
    }`,
  );
  report(figures);
  await relay.stop();
} finally {
  await database.close();
  await server.stop();
}
