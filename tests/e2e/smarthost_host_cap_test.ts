/**
 * 400 domains routed to one smarthost: the receiver never sees more than
 * `delivery.maxConnectionsPerHost` (20) sessions at once, every mail arrives once, and no
 * destination is marked unreachable while it waits for a slot.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { serverOnly, testDatabase } from "../_support/db.ts";
import { spawnRelay } from "../_support/relay_process.ts";
import { startSmtpServer } from "../relay/smtp/_smtp_server.ts";

const DOMAINS = 400;
const CAP = 20;

Deno.test({
  name: "relay process sends 400 domains through one smarthost with at most 20 sessions open",
  ignore: serverOnly,
  async fn() {
    let open = 0;
    let peak = 0;
    await using server = await startSmtpServer({
      onConnect(_session, callback) {
        open++;
        peak = Math.max(peak, open);
        callback();
      },
      onClose() {
        open--;
      },
      // A little time per message, so sessions overlap as they would at a real host.
      onMailFrom(_address, _session, callback) {
        setTimeout(() => callback(), 5);
      },
    });
    await using t = await testDatabase();
    await sql`
      INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body)
      SELECT 's@ferry.test', ARRAY['r' || g || '@d' || g || '.test'], 's', 'b'
        FROM generate_series(1, ${DOMAINS}) g`.execute(t.db);
    const relay = await spawnRelay({
      databaseUrl: t.url!,
      routes: `*=127.0.0.1:${server.port}`,
      config: { delivery: { maxConnectionsPerHost: CAP } },
    });
    try {
      await relay.started();
      const deadline = performance.now() + 60_000;
      while (server.messages.length < DOMAINS && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      console.log(`${server.messages.length} received, peak ${peak} concurrent sessions`);
      assert.equal(server.messages.length, DOMAINS, relay.tail());
      assert.ok(peak <= CAP, `peak ${peak} sessions`);
      assert.ok(peak > 1, `peak ${peak}: sessions did run side by side`);
      const recipients = new Set(server.messages.flatMap((m) => m.recipients));
      assert.equal(recipients.size, DOMAINS, "each mail once");
      assert.equal(relay.events.get("domain.unreachable") ?? 0, 0, relay.tail());
      assert.equal(await relay.stop(), 0, relay.tail());
    } finally {
      await relay.kill9();
    }
  },
});
