/** A 5xx "no such user" bounces, and suppresses the address for the next send. */
import assert from "node:assert/strict";
import { smtpError, startSmtpServer } from "../relay/smtp/_smtp_server.ts";
import { enqueue, startTestRelay } from "./_relay.ts";

Deno.test({
  name: "relay bounces a 5xx and suppresses an unknown address",
  async fn() {
    await using server = await startSmtpServer({
      onRcptTo(a, _s, cb) {
        if (a.address.startsWith("nobody@")) {
          return cb(smtpError(550, "5.1.1 <nobody@x.test>: User unknown"));
        }
        cb();
      },
    });
    await using r = await startTestRelay({ routes: `*=127.0.0.1:${server.port}` });
    await enqueue(r, { to: ["nobody@x.test", "real@x.test"] });
    await r.pumpUntil(async () => {
      const s = await r.statuses();
      return s["nobody@x.test"] === "bounced" && s["real@x.test"] === "delivered";
    }, "bounce and delivery");
    const sup = await r.t.db.selectFrom("ferry.suppressions").selectAll().execute();
    assert.deepEqual(sup.map((x) => x.address), ["nobody@x.test"]);
    assert.match(sup[0]!.reason, /User unknown/);
    assert.ok(sup[0]!.expires_at, "suppressed for a while (delivery.suppressFor)");
    await enqueue(r, { to: ["nobody@x.test"] });
    await r.pumpUntil(async () => {
      const rows = await r.t.db.selectFrom("ferry.deliveries").select("status").where(
        "recipient",
        "=",
        "nobody@x.test",
      )
        .orderBy("id").execute();
      return rows.length === 2 && rows[1]!.status === "suppressed";
    }, "second send suppressed");
    assert.equal(server.messages.length, 1, "only the real recipient's message arrived");
  },
});
