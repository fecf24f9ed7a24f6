/**
 * With a connection limit of 2, the receiver never sees more than 2 concurrent sessions, even
 * with two Ferry instances on one database: the destination is leased to one of them. Each
 * instance gets a turn, so the second is seen sending too, not merely started.
 */
import assert from "node:assert/strict";
import { acquireLeases, domainLease } from "../../db/leases.ts";
import { serverOnly } from "../_support/db.ts";
import { startSmtpServer } from "../relay/smtp/_smtp_server.ts";
import { enqueue, startTestRelay } from "./_relay.ts";

Deno.test({
  name: "two relay instances together keep a destination's limit of 2 connections",
  ignore: serverOnly,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    let open = 0;
    let maxOpen = 0;
    await using server = await startSmtpServer({
      onConnect(_s, cb) {
        maxOpen = Math.max(maxOpen, ++open);
        cb();
      },
      onClose() {
        open--;
      },
    });
    const config = {
      domains: { "*": { maxConnections: 2, initialConnections: 2, messagesPerConnection: 5 } },
    };
    await using a = await startTestRelay({
      routes: `*=127.0.0.1:${server.port}`,
      config,
      instance: "a",
    });
    await using b = await startTestRelay({
      routes: `*=127.0.0.1:${server.port}`,
      config,
      instance: "b",
      peer: a,
    });
    const db = a.t.db;
    const deliveredBy = async () => {
      const rows = await db.selectFrom("ferry.events").select(["instance"])
        .where("kind", "=", "delivered").execute();
      const by: Record<string, number> = {};
      for (const r of rows) by[r.instance ?? "?"] = (by[r.instance ?? "?"] ?? 0) + 1;
      return by;
    };
    const leaseOwners = async () =>
      (await db.selectFrom("ferry.leases").select("owner").execute()).map((l) => l.owner);

    // Both instances race for the destination: the one that leases it sends everything.
    for (let i = 0; i < 40; i++) await enqueue(a, { to: [`u${i}@limited.test`] });
    await a.pumpUntil(() => server.messages.length === 40, "40 deliveries", 10, 5_000);
    const [first] = await leaseOwners();
    assert.ok(first === "a" || first === "b", `leased to ${first}`);
    const second = first === "a" ? "b" : "a";
    assert.deepEqual(await deliveredBy(), { [first]: 40 }, "one instance sent them all");

    // Idle, the holder gives the destination up; the other instance takes it (as if it had won
    // the race) and must send the next messages itself, under the same limit.
    await a.pumpUntil(async () => (await leaseOwners()).length === 0, "lease given up", 1000, 300);
    await acquireLeases(db, [domainLease("limited.test")], {
      owner: second,
      now: new Date(a.clock.now()),
      ttlMs: 60_000,
    });
    for (let i = 40; i < 80; i++) await enqueue(b, { to: [`u${i}@limited.test`] });
    await a.pumpUntil(() => server.messages.length === 80, "80 deliveries", 10, 5_000);
    console.log(`most concurrent sessions: ${maxOpen}; first ${first}, then ${second}`);
    assert.deepEqual(await deliveredBy(), { [first]: 40, [second]: 40 }, "each sent its turn");
    assert.ok(maxOpen <= 2, `${maxOpen} concurrent sessions`);
    assert.equal(maxOpen, 2, "the limit is used");
  },
});
