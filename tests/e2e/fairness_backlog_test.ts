/**
 * Fairness, measured: a destination with 100,000 queued deliveries throttled to 1/s does not
 * delay mail to another destination. The other destination's latency is measured (on the relay's
 * clock) without and with the backlog.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { ingestOutbox } from "../../db/ingest.ts";
import { serverOnly } from "../_support/db.ts";
import { startSmtpServer } from "../relay/smtp/_smtp_server.ts";
import { enqueue, startTestRelay, type TestRelay } from "./_relay.ts";

async function latencyOfOne(r: TestRelay, to: string, received: () => string[]): Promise<number> {
  const start = r.clock.now();
  await enqueue(r, { to: [to] });
  await r.pumpUntil(() => received().includes(to), `delivery to ${to}`, 10, 3_000);
  return r.clock.now() - start;
}

Deno.test({
  name: "a 100,000-delivery backlog throttled to 1/s does not delay another destination",
  ignore: serverOnly,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using server = await startSmtpServer();
    const received = () => server.messages.flatMap((m) => m.recipients);
    await using r = await startTestRelay({
      routes: `*=127.0.0.1:${server.port}`,
      config: { domains: { "backlog.test": { rates: ["1/s"] } } },
    });
    const without = await latencyOfOne(r, "first@other.test", received);
    const at = new Date(r.clock.now());
    await sql`
      INSERT INTO ferry.outbox (from_address, to_addresses, text_body, send_at, created_at)
      SELECT 's@ferry.test', ARRAY['b' || g || '@backlog.test'], 'x', ${at}, ${at}
        FROM generate_series(1, 100000) g`.execute(r.t.db);
    while ((await ingestOutbox(r.t.db, { now: at, limit: 10_000 })).rows > 0) { /* drain */ }
    await r.pumpUntil(() => received().some((x) => x.endsWith("@backlog.test")), "backlog started");
    const withBacklog = await latencyOfOne(r, "second@other.test", received);
    const claimed = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM ferry.deliveries WHERE domain = 'backlog.test' AND status = 'sending'`
      .execute(r.t.db);
    console.log(
      `other destination's latency: ${without} ms without, ${withBacklog} ms with the backlog; ` +
        `backlog rows on lease: ${claimed.rows[0]!.n}`,
    );
    assert.ok(withBacklog <= without + 200, `${withBacklog} ms with vs ${without} ms without`);
    assert.ok(claimed.rows[0]!.n < 20, "a throttled destination does not sit on leases");
  },
});
