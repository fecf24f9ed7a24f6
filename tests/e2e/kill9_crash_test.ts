/**
 * Crash safety: the relay process is killed with SIGKILL five times while it delivers 3,000
 * committed messages to 30 domains, and restarted on the same database each time. In the end
 * every delivery is `delivered` and every recipient got its message; a recipient got it twice
 * only if its delivery was claimed (in flight or queued in an actor) by an instance at the
 * moment that instance was killed, and every copy carries the same Message-ID.
 *
 * Real time, real process: a killed instance's destination leases (`delivery.domainLease`) and
 * claims (`queue.leaseDuration`) must expire before another instance takes them over, so both
 * are short here. Every wait is for a condition, bounded.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import type { Db } from "../../db/client.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";
import { type RelayProcess, spawnRelay } from "../_support/relay_process.ts";
import { startSmtpServer } from "../relay/smtp/_smtp_server.ts";

const MESSAGES = 3000;
const DOMAINS = 30;
const CONNECTIONS = 2;
/** Kill points: when the first actor starts (claims under way), then at these counts received. */
const KILL_AT_RECEIVED = [600, 1200, 1800, 2400];

const CONFIG = {
  queue: { leaseDuration: "10s" },
  delivery: { domainLease: "3s", drainTimeout: "5s" },
  // Paced so that the run spans the kills: 30 domains × 20/s = 600 messages/s at most.
  domains: {
    "*": { maxConnections: CONNECTIONS, initialConnections: CONNECTIONS, rates: ["20/s"] },
  },
};

Deno.test({
  name: "relay process killed with SIGKILL five times loses nothing, duplicates only in flight",
  ignore: serverOnly,
  async fn() {
    await using server = await startSmtpServer();
    await using t = await testDatabase();
    await sql`
      INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body)
      SELECT 'Sender <sender@ferry.test>', ARRAY['r' || g || '@d' || (g % ${DOMAINS}) || '.test'],
             'Message ' || g, 'Body of message ' || g
        FROM generate_series(1, ${MESSAGES}) g`.execute(t.db);
    const spawn = () =>
      spawnRelay({ databaseUrl: t.url!, routes: `*=127.0.0.1:${server.port}`, config: CONFIG });
    const received = () => server.messages.length;

    // Recipients whose delivery a killed instance had claimed and not yet recorded.
    const claimedAtKill = new Set<string>();
    const kills: { received: number; claimed: number }[] = [];
    const kill = async (relay: RelayProcess) => {
      await relay.kill9();
      const { rows } = await sql<{ recipient: string }>`
        SELECT recipient FROM ferry.deliveries
         WHERE status = 'sending' AND lease_owner LIKE ${`relay.test:${relay.pid}:%`}`
        .execute(t.db);
      for (const r of rows) claimedAtKill.add(r.recipient);
      kills.push({ received: received(), claimed: rows.length });
    };

    let relay = await spawn();
    try {
      await relay.started();
      await until(() => relay.events.has("actor.started"), "an actor started", 40_000, relay);
      await kill(relay);
      for (const at of KILL_AT_RECEIVED) {
        relay = await spawn();
        await relay.started();
        await until(() => received() >= at, `${at} messages received`, 40_000, relay);
        await kill(relay);
      }
      relay = await spawn();
      await relay.started();
      await until(
        async () => (await count(t.db, "delivered")) === MESSAGES,
        "every delivery delivered",
        50_000,
        relay,
      );
      assert.equal(await relay.stop(), 0, relay.tail());
    } finally {
      await relay.kill9();
    }

    const statuses = await sql<{ status: string; n: number }>`
      SELECT status, count(*)::int AS n FROM ferry.deliveries GROUP BY status`.execute(t.db);
    assert.deepEqual(statuses.rows, [{ status: "delivered", n: MESSAGES }]);

    // Per recipient: how many copies arrived, and with which Message-IDs.
    const copies = new Map<string, { n: number; ids: Set<string> }>();
    for (const m of server.messages) {
      const id = messageId(m.content);
      assert.ok(id, "every message has a Message-ID");
      for (const r of m.recipients) {
        const c = copies.get(r) ?? { n: 0, ids: new Set<string>() };
        c.n++;
        c.ids.add(id);
        copies.set(r, c);
      }
    }
    assert.equal(copies.size, MESSAGES, "every recipient received its message");
    const duplicated = [...copies].filter(([, c]) => c.n > 1);
    const duplicates = duplicated.reduce((n, [, c]) => n + c.n - 1, 0);
    const claimed = kills.reduce((n, k) => n + k.claimed, 0);
    console.log(
      `kills at received counts ${kills.map((k) => k.received).join(", ")}; ` +
        `claimed at the kills ${kills.map((k) => k.claimed).join(", ")}; ` +
        `duplicates at the receiver: ${duplicates}`,
    );
    for (const [r] of duplicated) {
      assert.ok(claimedAtKill.has(r), `${r} was received twice but not in flight at a kill`);
    }
    // In flight at a kill is at most one transaction per connection.
    assert.ok(duplicates <= kills.length * DOMAINS * CONNECTIONS, `${duplicates} duplicates`);
    assert.ok(duplicates <= claimed, `${duplicates} duplicates, ${claimed} claimed at the kills`);
    for (const [r, c] of copies) assert.equal(c.ids.size, 1, `one Message-ID for ${r}`);
  },
});

async function count(db: Db, status: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM ferry.deliveries WHERE status = ${status}`.execute(db);
  return rows[0]!.n;
}

/** Polls `cond` every 20 ms until it holds; fails after `ms` with the relay's last lines. */
async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms: number,
  relay: RelayProcess,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > deadline) {
      throw new Error(
        `Cannot finish the test as ${what} did not happen in ${ms} ms:\n${relay.tail()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function messageId(content: Uint8Array): string {
  const head = new TextDecoder().decode(content).split("\r\n\r\n")[0]!;
  return /^message-id:\s*(.+)$/im.exec(head)?.[1]?.trim() ?? "";
}
