/**
 * What the NOTIFY trigger (`queue.notify`) costs the application: outbox INSERTs, one row per
 * transaction, from FERRY_NOTIFY_CLIENTS connections (8) as fast as they go for
 * FERRY_NOTIFY_SECONDS (5) each, with the trigger off and on, alternating, on a durable cluster
 * (PostgreSQL at its defaults, fsync on) or DATABASE_URL. A NOTIFY takes a database-wide lock
 * from before the commit record is flushed until the transaction ends, so concurrent commits
 * that notified no longer share a WAL flush. Reported: commits/s and the commit's p50/p99.
 *
 * Run: deno run -A tests/bench/notify_cost_bench.ts
 */
import pg from "pg";
import { openDatabase } from "../../db/client.ts";
import { migrate } from "../../db/migrate.ts";
import { setNotifyTrigger } from "../../db/notify.ts";
import { benchServer, report } from "./_env.ts";

const CLIENTS = Number(Deno.env.get("FERRY_NOTIFY_CLIENTS") ?? "8");
const SECONDS = Number(Deno.env.get("FERRY_NOTIFY_SECONDS") ?? "5");

const server = await benchServer();
const database = await openDatabase({ url: server.url, poolSize: 1 });
try {
  await migrate(database.db);
  for (const notify of [false, true, false, true]) {
    await setNotifyTrigger(database.db, notify);
    const load = Deno.loadavg();
    const took: number[] = [];
    const end = performance.now() + SECONDS * 1000;
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      const c = new pg.Client({ connectionString: server.url });
      await c.connect();
      try {
        while (performance.now() < end) {
          const t0 = performance.now();
          await c.query(
            `INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body)
             VALUES ('App <app@ferry.test>', ARRAY['r@d.test'], 'Hello', 'Body')`,
          );
          took.push(performance.now() - t0);
        }
      } finally {
        await c.end();
      }
    }));
    took.sort((a, b) => a - b);
    report({
      bench: "notify_cost",
      notify,
      clients: CLIENTS,
      commits_per_s: Math.round(took.length / SECONDS),
      commit_p50_ms: Number(took[Math.floor(took.length / 2)]!.toFixed(2)),
      commit_p99_ms: Number(took[Math.floor(took.length * 0.99)]!.toFixed(2)),
      loadavg: load,
    });
  }
} finally {
  await database.close();
  await server.stop();
}
