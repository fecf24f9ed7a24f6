/**
 * Queue throughput against a real PostgreSQL:
 * - ingest: outbox rows -> deliveries, rows/s, batches of 1, 100, 500;
 * - claim+complete: claimDue + recordOutcomes, rows/s, batches of 1, 100, 500, with the
 *   plain-SQL SKIP LOCKED claim+complete on a bare table as the reference;
 * - pick-up latency: commit of an outbox row -> its ingestion, p50/p99, polling and NOTIFY.
 *
 * Run: deno run -A tests/bench/db_bench.ts   (or `deno task bench`)
 */
import { sql } from "kysely";
import pg from "pg";
import { type Database, openDatabase } from "../../db/client.ts";
import { ingestOutbox } from "../../db/ingest.ts";
import { migrate } from "../../db/migrate.ts";
import { claimDue, recordOutcomes } from "../../db/queue.ts";
import { startRelay } from "../../relay/composition/relay.ts";
import { systemClock } from "../../lib/clock.ts";
import { loadConfig } from "../../relay/config/config.ts";
import { benchServer, report } from "./_env.ts";

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
  const total = batch === 1 ? 3000 : 50_000;
  await seedOutbox(database, total, 1000);
  const t0 = performance.now();
  let done = 0;
  while (done < total) done += (await ingestOutbox(database.db, { now: now(), limit: batch })).rows;
  const s = (performance.now() - t0) / 1000;
  report({
    bench: "ingest",
    batch,
    rows: done,
    seconds: +s.toFixed(2),
    rows_per_s: Math.round(done / s),
  });
  await drop();
}

for (const batch of [1, 100, 500]) {
  const { database, drop } = await freshDb();
  const total = batch === 1 ? 3000 : 100_000;
  await seedOutbox(database, total, 1000);
  while ((await ingestOutbox(database.db, { now: now(), limit: 5000 })).rows > 0);
  await sql.raw(`VACUUM ANALYZE ferry.deliveries`).execute(database.db);
  const t0 = performance.now();
  let done = 0;
  let cursor = "";
  while (done < total) {
    const r = await claimDue(database.db, {
      owner: "bench",
      leaseMs: 60_000,
      now: now(),
      limit: batch,
      perDomain: Math.max(1, Math.ceil(batch / 20)),
      cursor,
    });
    cursor = r.cursor;
    if (r.deliveries.length === 0) break;
    await recordOutcomes(
      database.db,
      r.deliveries.map((d) => ({
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
    done += r.deliveries.length;
  }
  const s = (performance.now() - t0) / 1000;
  report({
    bench: "claim+complete",
    batch,
    rows: done,
    seconds: +s.toFixed(2),
    rows_per_s: Math.round(done / s),
  });
  await drop();
}

// Reference: the plainest SKIP LOCKED claim + complete on a bare table.
for (const batch of [1, 100, 500]) {
  const { database, drop } = await freshDb();
  const total = batch === 1 ? 3000 : 100_000;
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
  for (let i = 0; i < 200; i++) {
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
