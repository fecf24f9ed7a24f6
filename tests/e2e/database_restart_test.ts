/**
 * PostgreSQL stops in the middle of a 2,000-message run and starts again a few seconds later.
 * The relay process stays up, says so once (`database.down`, `database.up`), answers `/readyz`
 * 503 while the database is away and 200 once it is back, holds the outcomes of the SMTP
 * transactions that finished meanwhile and writes them when it returns: nothing is lost and no
 * mail that got its 250 is sent again. No rejection reaches the process's global handler.
 *
 * Real process, real server, real time: the cluster is this test's own (the suite's shared one
 * cannot be stopped). Every wait is for a condition, bounded.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { openDatabase } from "../../db/client.ts";
import { findPostgresBin, startCluster } from "../_support/postgres_cluster.ts";
import { requirePeer } from "../_support/peers.ts";
import { type RelayProcess, spawnRelay } from "../_support/relay_process.ts";
import { startSmtpServer } from "../relay/smtp/_smtp_server.ts";

const MESSAGES = 2000;
const DOMAINS = 20;
const OUTAGE_MS = 4000;
const CONFIG = {
  // Paced so that the run spans the outage: 20 domains × 15/s = 300 messages/s at most.
  domains: { "*": { maxConnections: 2, initialConnections: 2, rates: ["15/s"] } },
};

Deno.test({
  name: "relay process survives a PostgreSQL restart mid-run: nothing lost, nothing sent twice",
  ignore: requirePeer("postgres", !findPostgresBin()),
  async fn() {
    const cluster = await startCluster(findPostgresBin()!);
    await using server = await startSmtpServer();
    const lines: { at: number; line: string }[] = [];
    let relay: RelayProcess | undefined;
    try {
      const setup = await openDatabase({ url: cluster.url });
      relay = await spawnRelay({
        databaseUrl: cluster.url,
        routes: `*=127.0.0.1:${server.port}`,
        config: CONFIG,
        onLine: (line) => lines.push({ at: performance.now(), line }),
      });
      await relay.started();
      await sql`
        INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body)
        SELECT 'Sender <sender@ferry.test>', ARRAY['r' || g || '@d' || (g % ${DOMAINS}) || '.test'],
               'Message ' || g, 'Body of message ' || g
          FROM generate_series(1, ${MESSAGES}) g`.execute(setup.db);
      await setup.close();
      const ready = () =>
        fetch(`${relay!.adminUrl}/readyz`).then(async (r) => {
          await r.body?.cancel();
          return r.status;
        });
      assert.equal(await ready(), 200);

      await until(() => server.messages.length >= 400, "400 messages received", 30_000, relay);
      await cluster.pause();
      const downAt = performance.now();
      await until(async () => (await ready()) === 503, "/readyz 503", 10_000, relay);
      const receivedWhileDown = server.messages.length;
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      await cluster.resume();
      const upAt = performance.now();
      await until(async () => (await ready()) === 200, "/readyz 200 again", 30_000, relay);
      const recovered = (performance.now() - upAt) / 1000;

      const check = await openDatabase({ url: cluster.url });
      try {
        await until(
          async () => (await delivered(check)) === MESSAGES,
          "every delivery delivered",
          60_000,
          relay,
        );
      } finally {
        await check.close();
      }
      assert.equal(await relay.stop(), 0, relay.tail());

      const copies = new Map<string, number>();
      for (const m of server.messages) {
        for (const r of m.recipients) copies.set(r, (copies.get(r) ?? 0) + 1);
      }
      const duplicates = [...copies.values()].reduce((n, c) => n + c - 1, 0);
      const outageLines = lines.filter((l) => l.at >= downAt && l.at <= upAt).length;
      console.log(
        `outage ${((upAt - downAt) / 1000).toFixed(1)} s; ${receivedWhileDown} received when it ` +
          `began; lost ${MESSAGES - copies.size}; duplicates ${duplicates}; ` +
          `log lines while down ${outageLines}; ready again ${
            recovered.toFixed(1)
          } s after restart`,
      );
      assert.equal(copies.size, MESSAGES, "every recipient received its message");
      assert.equal(duplicates, 0, "no mail that got its 250 was sent again");
      assert.equal(relay.events.get("database.down"), 1, relay.tail());
      assert.equal(relay.events.get("database.up"), 1, relay.tail());
      assert.equal(relay.events.get("process.unhandled") ?? 0, 0, relay.tail());
      assert.equal(relay.events.get("outcome.given_up") ?? 0, 0, relay.tail());
      assert.ok(outageLines <= 5, `${outageLines} log lines while the database was away`);
    } finally {
      await relay?.kill9();
      await cluster.stop();
    }
  },
});

Deno.test({
  name: "relay process started with PostgreSQL down waits for it, alive and not ready",
  ignore: requirePeer("postgres", !findPostgresBin()),
  async fn() {
    const cluster = await startCluster(findPostgresBin()!);
    await using server = await startSmtpServer();
    const stderr: string[] = [];
    let relay: RelayProcess | undefined;
    try {
      await cluster.pause();
      // A password in the URL must never reach the log.
      const url = cluster.url.replace("postgres@", "postgres:s3cret-pw@");
      relay = await spawnRelay({
        databaseUrl: url,
        routes: `*=127.0.0.1:${server.port}`,
        onLine: (line, stream) => stream === "stderr" && stderr.push(line),
      });
      const base = relay.adminUrl;
      await until(
        () => stderr.some((l) => l.includes("waiting for PostgreSQL")),
        "the waiting line",
        20_000,
        relay,
      );
      const hostPort = new URL(cluster.url).host;
      const waiting = stderr.filter((l) => l.includes("waiting for PostgreSQL"));
      assert.match(waiting[0]!, new RegExp(`waiting for PostgreSQL at ${hostPort}/postgres: `));
      assert.ok(!stderr.join("\n").includes("s3cret-pw"), "no password in the log");
      const live = await fetch(`${base}/livez`);
      assert.equal(live.status, 200);
      await live.body?.cancel();
      const unready = await fetch(`${base}/readyz`);
      assert.equal(unready.status, 503);
      assert.deepEqual(await unready.json(), {
        status: "unready",
        reason: "waiting for the database",
      });

      await cluster.resume();
      await relay.started(30_000);
      assert.equal(waiting.length, 1, "one line while the reason stays the same");
      const db = await openDatabase({ url: cluster.url });
      try {
        await sql`INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body)
                  VALUES ('s@ferry.test', ARRAY['late@d.test'], 's', 'b')`.execute(db.db);
        await until(async () => (await delivered(db)) === 1, "delivered", 30_000, relay);
      } finally {
        await db.close();
      }
      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 200);
      await ready.body?.cancel();
      assert.equal(await relay.stop(), 0, relay.tail());
    } finally {
      await relay?.kill9();
      await cluster.stop();
    }
  },
});

async function delivered(database: { db: import("../../db/client.ts").Db }): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM ferry.deliveries WHERE status = 'delivered'`
    .execute(database.db);
  return rows[0]!.n;
}

/** Polls `cond` every 50 ms until it holds; fails after `ms` with the relay's last lines. */
async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms: number,
  relay: RelayProcess,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await Promise.resolve(cond()).catch(() => false))) {
    if (performance.now() > deadline) {
      throw new Error(`Cannot go on as ${what} did not happen in ${ms} ms:\n${relay.tail()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
