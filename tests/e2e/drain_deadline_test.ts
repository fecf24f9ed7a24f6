/**
 * SIGTERM while every connection waits for a greeting that never comes: the relay keeps its drain
 * deadline (`delivery.drainTimeout`), exits within it plus a few seconds, and what it cut goes
 * back to the queue (`queued`, no attempt counted) for the next start or another instance.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { serverOnly, testDatabase } from "../_support/db.ts";
import { spawnRelay } from "../_support/relay_process.ts";

const DRAIN_S = 3;

Deno.test({
  name:
    "relay process stopped while peers never greet exits within drainTimeout + 5 s, work queued",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    // Accepts TCP and never writes a byte.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const accepted: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const c of listener) accepted.push(c);
    })().catch(() => {});
    await sql`
      INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body)
      SELECT 's@ferry.test', ARRAY['r' || g || '@d' || (g % 3) || '.test'], 's', 'b'
        FROM generate_series(1, 9) g`.execute(t.db);
    const relay = await spawnRelay({
      databaseUrl: t.url!,
      routes: `*=127.0.0.1:${port}`,
      config: { delivery: { drainTimeout: `${DRAIN_S}s` } },
    });
    try {
      await relay.started();
      const deadline = performance.now() + 30_000;
      while (accepted.length < 3 && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(accepted.length >= 3, `connections waiting for a greeting: ${accepted.length}`);
      const stopping = performance.now();
      const code = await relay.stop();
      const seconds = (performance.now() - stopping) / 1000;
      console.log(`exit ${code} ${seconds.toFixed(2)} s after SIGTERM (drainTimeout ${DRAIN_S} s)`);
      assert.equal(code, 0, relay.tail());
      assert.ok(seconds < DRAIN_S + 5, `${seconds} s`);
      const { rows } = await sql<{ status: string; attempts: number; n: number }>`
        SELECT status, attempts, count(*)::int AS n FROM ferry.deliveries GROUP BY 1, 2`
        .execute(t.db);
      assert.deepEqual(rows, [{ status: "queued", attempts: 0, n: 9 }]);
    } finally {
      await relay.kill9();
      listener.close();
      for (const c of accepted) c.close();
      await accepting;
    }
  },
});
