/**
 * Memory with many destinations: 100,000 deliveries to 100,000 distinct domains through the
 * real supervisor, domain actors and PostgreSQL queue, with an in-process deliverer that
 * accepts at once (so the figure is Ferry's own, not the network's). Samples heap and RSS every
 * second; actors retire 1 s after going idle. Prints peak actors, peak heap/RSS, throughput, and
 * the live actors once the work is done and the relay still runs. Checked before printing: every
 * delivery made, never more actors than the cap, none left once idle.
 *
 * Knob (environment): DOMAINS (100000).
 *
 * Run: deno run -A tests/bench/actors_memory_bench.ts   (or `deno task bench actors_memory`)
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { openDatabase } from "../../db/client.ts";
import { migrate } from "../../db/migrate.ts";
import { ingestOutbox } from "../../db/ingest.ts";
import { pgQueue } from "../../relay/adapters/pg_queue.ts";
import { Supervisor } from "../../actors/supervisor.ts";
import { OutcomeBatcher } from "../../actors/outcome_batcher.ts";
import { createDomainActor } from "../../actors/create_actor.ts";
import { DEFAULT_POLICY } from "../../actors/policy.ts";
import type { Deliverer } from "../../actors/ports.ts";
import { systemClock } from "../../lib/clock.ts";
import { benchServer, report } from "./_env.ts";

const DOMAINS = Number(Deno.env.get("DOMAINS") ?? 100_000);
const MAX_ACTORS = 2_000;
const ACTOR_IDLE_MS = 1_000;
const server = await benchServer();
const database = await openDatabase({ url: server.url, poolSize: 8 });
await migrate(database.db);
const t0 = new Date(Date.now() - 60_000);
await sql`
  INSERT INTO ferry.outbox (from_address, to_addresses, text_body, send_at, created_at)
  SELECT 's@ferry.test', ARRAY['u@d' || g || '.test'], 'x', ${t0}, ${t0}
    FROM generate_series(1, ${DOMAINS}) g`.execute(database.db);
while ((await ingestOutbox(database.db, { now: new Date(), limit: 10_000 })).rows > 0) { /* all */ }

const instant: Deliverer = {
  connect: () =>
    Promise.resolve({
      kind: "connected",
      session: {
        mxHost: "mx.bench.test",
        tls: false,
        usable: true,
        send: (_id, rs) =>
          Promise.resolve(rs.map(() => ({ kind: "delivered", code: 250, reply: "250 ok" }))),
        close: () => Promise.resolve(),
      },
    }),
};
const queue = pgQueue({
  db: database.db,
  instance: "bench",
  deliveryLeaseMs: 120_000,
  domainLeaseMs: 15_000,
  suppressForMs: null,
});
const batcher = new OutcomeBatcher((o) => queue.record(o, Date.now()));
const supervisor = new Supervisor({
  queue,
  clock: systemClock,
  logger: { log: () => {} },
  createActor: (key, domain) =>
    createDomainActor(key, domain, { ...DEFAULT_POLICY, idleTimeoutMs: 200 }, {
      clock: systemClock,
      random: Math.random,
      deliverer: instant,
      record: (o) => batcher.record(o),
      logger: { log: () => {} },
    }),
  options: { actorIdleMs: ACTOR_IDLE_MS, maxActors: MAX_ACTORS },
});

const stop = new AbortController();
const run = supervisor.run(stop.signal);
const started = performance.now();
let peakActors = 0;
let peakHeap = 0;
let peakRss = 0;
const samples: { s: number; actors: number; heapMb: number; rssMb: number; delivered: number }[] =
  [];
for (let i = 0; i < 600; i++) {
  await new Promise((r) => setTimeout(r, 1000));
  const mem = Deno.memoryUsage();
  const actors = supervisor.snapshot().actors;
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM ferry.deliveries WHERE status = 'delivered'`.execute(
    database.db,
  );
  const delivered = rows[0]!.n;
  peakActors = Math.max(peakActors, actors);
  peakHeap = Math.max(peakHeap, mem.heapUsed);
  peakRss = Math.max(peakRss, mem.rss);
  samples.push({
    s: i + 1,
    actors,
    heapMb: Math.round(mem.heapUsed / 1e6),
    rssMb: Math.round(mem.rss / 1e6),
    delivered,
  });
  if (delivered >= DOMAINS) break;
}
const seconds = (performance.now() - started) / 1000;
// With the relay still running and nothing left to send, the actors must retire by themselves:
// counted before the stop, which would end them all anyway.
let idleActors = supervisor.snapshot().actors;
for (let waited = 0; idleActors > 0 && waited < 20 * ACTOR_IDLE_MS; waited += 100) {
  await new Promise((r) => setTimeout(r, 100));
  idleActors = supervisor.snapshot().actors;
}
stop.abort();
await run;
await batcher.flush();
const delivered = samples.at(-1)?.delivered ?? 0;
assert.equal(delivered, DOMAINS, "every delivery made");
assert.ok(peakActors <= MAX_ACTORS, `${peakActors} live actors, over the cap of ${MAX_ACTORS}`);
assert.equal(idleActors, 0, "no actor left once idle");
report({
  bench: "actors-memory",
  domains: DOMAINS,
  delivered,
  seconds: Number(seconds.toFixed(1)),
  deliveries_per_s: Math.round(delivered / seconds),
  peak_actors: peakActors,
  actors_once_idle: idleActors,
  peak_heap_mb: Math.round(peakHeap / 1e6),
  peak_rss_mb: Math.round(peakRss / 1e6),
  heap_mb_samples: samples.filter((_, i) => i % 5 === 0).map((x) => x.heapMb),
});
await database.close();
await server.stop();
