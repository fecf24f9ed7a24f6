/**
 * With a connection limit of 2, the receiver never sees more than 2 concurrent sessions, even
 * with two Ferry instances on one database: the destination is leased to one of them.
 */
import assert from "node:assert/strict";
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
    const instancesSeen = new Set<string>();
    await using server = await startSmtpServer({
      onConnect(_s, cb) {
        maxOpen = Math.max(maxOpen, ++open);
        cb();
      },
      onClose() {
        open--;
      },
      onMailFrom(_a, session, cb) {
        instancesSeen.add(session.hostNameAppearsAs ?? "");
        cb();
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
    for (let i = 0; i < 80; i++) await enqueue(a, { to: [`u${i}@limited.test`] });
    await a.pumpUntil(() => server.messages.length === 80, "80 deliveries", 10, 5_000);
    const leases = await a.t.db.selectFrom("ferry.leases").select(["name", "owner"]).execute();
    console.log(
      `most concurrent sessions: ${maxOpen}; destination leased to ${JSON.stringify(leases)}`,
    );
    assert.ok(maxOpen <= 2, `${maxOpen} concurrent sessions`);
    assert.equal(maxOpen, 2, "the limit is used");
    assert.ok(b, "second instance ran");
  },
});
