/**
 * An asynchronous bounce: the receiving server accepts the message (250), then bounces it to the
 * VERP return path it was sent with. The DSN lands in the bounce mailbox (a private Dovecot),
 * the relay's bounce loop reads it over POP3S: the delivery ends `bounced` with its class, the
 * address is suppressed, and the next mail to it is `suppressed` without being sent.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { decodeVerp } from "../../relay/bounce_parsing/mod.ts";
import { dovecotAvailable, startDovecot } from "../_peers/dovecot.ts";
import { startSmtpServer } from "../relay/smtp/_smtp_server.ts";
import { postfixDsn } from "./_dsn.ts";
import { enqueue, startTestRelay, T0 } from "./_relay.ts";
import { requirePeer } from "../_support/peers.ts";

const VERP = {
  prefix: "bounces",
  domain: "bounce.ferry.test",
  secret: "e2e-verp-secret-0123456789",
};
const DAY = 86_400_000;

Deno.test({
  name: "relay marks an accepted message bounced when its DSN arrives, and suppresses the address",
  ignore: requirePeer("dovecot", !dovecotAvailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dovecot = await startDovecot();
    const caFile = await Deno.makeTempFile({ prefix: "ferry-e2e-ca-", suffix: ".pem" });
    await using _ca = { [Symbol.asyncDispose]: () => Deno.remove(caFile) };
    await Deno.writeTextFile(caFile, dovecot.caCert);
    await using server = await startSmtpServer();
    await using r = await startTestRelay({
      routes: `*=127.0.0.1:${server.port}`,
      config: {
        delivery: { caFile },
        bounce: {
          host: dovecot.host,
          port: dovecot.pop3sPort,
          tls: "implicit",
          username: dovecot.user,
          password: dovecot.password,
          pollInterval: "1s",
          verp: VERP,
        },
      },
    });

    // 1. Accepted by the receiving server, from a VERP return path naming the delivery.
    await enqueue(r, { to: ["ada@x.test"] });
    await r.pumpUntil(async () => (await r.statuses())["ada@x.test"] === "delivered", "delivery");
    const [delivery] = await r.t.db.selectFrom("ferry.deliveries").selectAll().execute();
    assert.equal(server.messages.length, 1);
    const sent = server.messages[0]!;
    assert.equal(decodeVerp(sent.mailFrom, VERP), String(delivery!.id), sent.mailFrom);

    // 2. Bounced later, to that return path.
    await dovecot.deliver(
      "dsn.eml",
      postfixDsn({ returnPath: sent.mailFrom, recipient: "ada@x.test", original: sent.content }),
    );
    await r.pumpUntil(async () => (await r.statuses())["ada@x.test"] === "bounced", "bounce");
    const bounced = await r.t.db.selectFrom("ferry.deliveries").selectAll()
      .where("id", "=", delivery!.id).executeTakeFirstOrThrow();
    assert.equal(bounced.bounce_class, "invalid_recipient");
    assert.equal(bounced.last_code, 550);
    assert.match(bounced.last_reply!, /^550 5\.1\.1 <ada@x\.test>: Recipient address rejected/);
    const { rows: events } = await sql<{ kind: string }>`
      SELECT kind FROM ferry.events WHERE delivery_id = ${delivery!.id} ORDER BY id`.execute(
      r.t.db,
    );
    assert.deepEqual(events.map((e) => e.kind), ["delivered", "bounced"]);
    const [suppression] = await r.t.db.selectFrom("ferry.suppressions").selectAll().execute();
    assert.equal(suppression!.address, "ada@x.test");
    assert.equal(suppression!.source, "bounce");
    const expires = new Date(suppression!.expires_at!).getTime();
    assert.ok(expires > T0 + 179 * DAY && expires < T0 + 181 * DAY, "delivery.suppressFor");
    // Deleted from the mailbox only after the commit, at QUIT.
    await r.pumpUntil(async () => (await dovecot.count()) === 0, "the DSN leaving the mailbox");
    const { rows: marks } = await sql<{ matched: number; unmatched: number; raw: unknown }>`
      SELECT matched, unmatched, raw FROM ferry.bounce_messages`.execute(r.t.db);
    assert.deepEqual(marks, [{ matched: 1, unmatched: 0, raw: null }]);
    // Logged as typed bounce.* events; no credential in any of them.
    assert.ok(
      r.events.some((e) => e.event === "bounce.message_recorded" && e.matched === 1),
      JSON.stringify(r.events.filter((e) => e.event.startsWith("bounce."))),
    );
    const log = JSON.stringify(r.events);
    assert.ok(!log.includes(dovecot.password), "the POP3 password is never logged");
    assert.ok(!log.includes(VERP.secret), "the VERP secret is never logged");

    // 3. The next mail to that address is not sent.
    await enqueue(r, { to: ["ada@x.test"] });
    await r.pumpUntil(async () => {
      const rows = await r.t.db.selectFrom("ferry.deliveries").select("status")
        .where("recipient", "=", "ada@x.test").orderBy("id").execute();
      return rows.length === 2 && rows[1]!.status === "suppressed";
    }, "second send suppressed");
    assert.equal(server.messages.length, 1, "nothing more reached the receiving server");
  },
});
