/**
 * Queue throughput against a real PostgreSQL:
 * - ingest: outbox rows -> deliveries, rows/s, batches of 1, 100, 500;
 * - claim+complete: the relay's claim path (readyDomains, destination leases, claimDomains with
 *   the lease checked, as pgQueue.claimMany) + recordOutcomes, rows/s, batches of 1, 100, 500,
 *   with the plain-SQL SKIP LOCKED claim+complete on a bare table as the reference;
 * - pick-up latency: commit of an outbox row -> its ingestion, p50/p99, polling and NOTIFY.
 * Every figure is checked before it is printed: all rows ingested, claimed and completed once,
 * one event per outcome, every committed row picked up.
 *
 * PostgreSQL runs at its defaults (durable: fsync, synchronous_commit, full_page_writes on), as
 * the first line (`"bench":"env"`) records; FERRY_BENCH_DURABILITY=fast is a separate variant and
 * labels every figure `"variant":"fsync off (unsafe)"`.
 *
 * Knobs (environment): FERRY_BENCH_ROWS (rows of the batch-100 and batch-500 claim runs, 100000;
 * ingest takes half, batch 1 at most 3000), FERRY_BENCH_DOMAINS (1000), FERRY_BENCH_SAMPLES
 * (pick-up latency samples, 200).
 *
 * Run: deno run -A tests/bench/db_bench.ts   (or `deno task bench db`)
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import pg from "pg";
import { type Database, openDatabase } from "../../db/client.ts";
import { ingestOutbox } from "../../db/ingest.ts";
import { migrate } from "../../db/migrate.ts";
import { acquireLeases, domainLease, releaseLeases } from "../../db/leases.ts";
import { claimDomains, countByStatus, readyDomains, recordOutcomes } from "../../db/queue.ts";
import { startRelay } from "../../relay/composition/relay.ts";
import { systemClock } from "../../lib/clock.ts";
import { loadConfig } from "../../relay/config/config.ts";
import { benchServer, report } from "./_env.ts";

const knob = (name: string, fallback: number) =>
  Number(Deno.env.get(`FERRY_BENCH_${name}`) ?? fallback);
const ROWS = knob("ROWS", 100_000);
const DOMAINS = knob("DOMAINS", 1000);
const SAMPLES = knob("SAMPLES", 200);
const rowsFor = (batch: number, all: number) => (batch === 1 ? Math.min(3000, all) : all);

const server = await benchServer();
const admin = new pg.Client({ connectionString: server.url });
await admin.connect();
let n = 0;

async function freshDb(): Promise<{ database: Database; url: string; drop: () => Promise<void> }> {
  const name = `ferry_bench_${Deno.pid}_${++n}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(server.url);
  u.pathname = `/${name}`;
  const database = await openDatabase({ url: u.toString(), poolSize: 4 });
  await migrate(database.db);
  return {
    database,
    url: u.toString(),
    drop: async () => {
      await database.close();
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    },
  };
}

async function seedOutbox(database: Database, rows: number, domains: number) {
  await sql`
    INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body, send_at)
    SELECT 'sender@bench.test', ARRAY['r' || g || '@d' || (g % ${domains}) || '.test'], 's', 'b',
           now() - interval '1 minute'
      FROM generate_series(1, ${rows}) g`.execute(database.db);
  await sql.raw(`VACUUM ANALYZE ferry.outbox`).execute(database.db);
}

const now = () => new Date(Date.now() + 60_000);

for (const batch of [1, 100, 500]) {
  const { database, drop } = await freshDb();
  const total = rowsFor(batch, Math.ceil(ROWS / 2));
  await seedOutbox(database, total, DOMAINS);
  const t0 = performance.now();
  let done = 0;
  while (done < total) done += (await ingestOutbox(database.db, { now: now(), limit: batch })).rows;
  const s = (performance.now() - t0) / 1000;
  assert.equal(done, total, "every outbox row ingested");
  assert.equal((await countByStatus(database.db)).queued, total, "one delivery per row");
  report({
    bench: "ingest",
    batch,
    rows: done,
    seconds: +s.toFixed(2),
    rows_per_s: Math.round(done / s),
  });
  await drop();
}

// The relay's claim path, as the supervisor drives it: find destinations with due work, lease
// them, claim for up to 20 held destinations at once in one statement that checks the leases,
// record the outcomes, and give a destination back once it has nothing left (an idle actor).
const OWNER = "bench";
for (const batch of [1, 100, 500]) {
  const { database, drop } = await freshDb();
  const db = database.db;
  const total = rowsFor(batch, ROWS);
  await seedOutbox(database, total, DOMAINS);
  while ((await ingestOutbox(db, { now: now(), limit: 5000 })).rows > 0);
  await sql.raw(`VACUUM ANALYZE ferry.deliveries`).execute(db);
  const fanOut = Math.min(batch, 20);
  const perDomain = Math.ceil(batch / fanOut);
  const lease = () => ({ owner: OWNER, now: now(), ttlMs: 600_000 });
  const held: string[] = [];
  let cursor = "";
  let done = 0;
  let claims = 0;
  let refused = 0;
  const t0 = performance.now();
  while (done < total) {
    while (held.length < fanOut) {
      const page = await readyDomains(db, { cursor, limit: 200, now: now(), owner: OWNER });
      cursor = page.cursor;
      const wanted = page.domains.filter((d) => !held.includes(d)).map(domainLease);
      const granted = await acquireLeases(db, wanted, lease());
      held.push(...granted.map((name) => name.slice("domain:".length)));
      if (cursor === "") break;
    }
    const turn = held.splice(0, fanOut);
    if (turn.length === 0) break;
    const claimed = await claimDomains(db, {
      requests: turn.map((domain) => ({ domain, limit: perDomain })),
      owner: OWNER,
      holder: OWNER,
      now: now(),
      leaseMs: 60_000,
    });
    claims++;
    const r = await recordOutcomes(
      db,
      claimed.map((d) => ({
        id: d.id,
        leaseToken: d.leaseToken,
        status: "delivered" as const,
        attempted: true,
        code: 250,
        reply: "250 2.0.0 Ok: queued",
        mxHost: "mx.bench.test",
      })),
      { now: now() },
    );
    refused += r.refused.length;
    done += claimed.length;
    const got = new Map<string, number>();
    for (const d of claimed) got.set(d.domain, (got.get(d.domain) ?? 0) + 1);
    const drained = turn.filter((d) => (got.get(d) ?? 0) < perDomain);
    await releaseLeases(db, drained.map(domainLease), OWNER);
    held.push(...turn.filter((d) => !drained.includes(d)));
  }
  const s = (performance.now() - t0) / 1000;
  assert.equal(refused, 0, "no outcome refused");
  assert.equal(done, total, "every delivery claimed once");
  const counts = await countByStatus(db);
  assert.equal(counts.delivered, total, "every delivery completed");
  assert.equal(counts.sending, 0);
  const events = await db.selectFrom("ferry.events").select((eb) => eb.fn.countAll().as("n"))
    .executeTakeFirstOrThrow();
  assert.equal(Number(events.n), total, "one event per outcome");
  report({
    bench: "claim+complete",
    batch,
    rows: done,
    claims,
    seconds: +s.toFixed(2),
    rows_per_s: Math.round(done / s),
  });
  await drop();
}

// Reference: the plainest SKIP LOCKED claim + complete on a bare table.
for (const batch of [1, 100, 500]) {
  const { database, drop } = await freshDb();
  const total = rowsFor(batch, ROWS);
  await sql.raw(`
    CREATE TABLE bare (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, status text NOT NULL);
    INSERT INTO bare (status) SELECT 'queued' FROM generate_series(1, ${total});
    CREATE INDEX bare_ready ON bare (id) WHERE status = 'queued';`).execute(database.db);
  await sql.raw(`VACUUM ANALYZE bare`).execute(database.db);
  const t0 = performance.now();
  let done = 0;
  while (done < total) {
    const { rows } = await sql<{ id: number }>`
      WITH c AS (SELECT id FROM bare WHERE status = 'queued' ORDER BY id LIMIT ${batch}
                 FOR UPDATE SKIP LOCKED)
      UPDATE bare SET status = 'sending' FROM c WHERE bare.id = c.id RETURNING bare.id`
      .execute(database.db);
    if (rows.length === 0) break;
    await sql`UPDATE bare SET status = 'done' WHERE id = ANY(${rows.map((r) => r.id)}::bigint[])`
      .execute(database.db);
    done += rows.length;
  }
  const s = (performance.now() - t0) / 1000;
  assert.equal(done, total, "every row claimed and completed once");
  report({
    bench: "plain-sql-claim+complete",
    batch,
    rows: done,
    seconds: +s.toFixed(2),
    rows_per_s: Math.round(done / s),
  });
  await drop();
}

// Pick-up latency: an application commits one row at a time; how long until Ferry ingests it?
for (const notify of [false, true]) {
  const { database, url, drop } = await freshDb();
  const app = await openDatabase({ url, poolSize: 1 });
  const stop = new AbortController();
  const config = loadConfig(
    { DATABASE_URL: url, FERRY_CONFIG: "bench.json" },
    () => JSON.stringify({ queue: { notify } }),
    () => "bench.test",
  );
  const relay = await startRelay({
    database,
    config,
    clock: systemClock,
    random: Math.random,
    logger: { log: () => {} },
    instance: "bench",
  }, stop.signal);
  await new Promise((r) => setTimeout(r, 500)); // let the loops (and LISTEN) settle
  const latencies: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const { id } = await app.db.insertInto("ferry.outbox")
      .values({ from_address: "a@bench.test", to_addresses: ["b@bench.test"], text_body: "x" })
      .returning("id").executeTakeFirstOrThrow();
    const committed = Date.now();
    for (let j = 0; j < 2000; j++) {
      const row = await app.db.selectFrom("ferry.outbox").select("ingested_at").where("id", "=", id)
        .executeTakeFirstOrThrow();
      if (row.ingested_at) {
        latencies.push(new Date(row.ingested_at).getTime() - committed);
        break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    // Arrivals spread out over ~35-85 ms so the poller is seen idle as well as busy.
    await new Promise((r) => setTimeout(r, 35 + (i * 17) % 50));
  }
  stop.abort();
  await relay.done;
  await app.close();
  await drop();
  assert.equal(latencies.length, SAMPLES, "every committed row picked up");
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  report({
    bench: "pickup-latency",
    mode: notify ? "notify" : "polling",
    samples: latencies.length,
    p50_ms: pct(0.5),
    p99_ms: pct(0.99),
    max_ms: latencies.at(-1),
  });
}

await admin.end();
await server.stop();
