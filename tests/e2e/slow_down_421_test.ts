/** A 421 mid-session: the delivery is deferred, the connection dropped, and the retry succeeds. */
import assert from "node:assert/strict";
import { smtpError, startSmtpServer } from "../relay/smtp/_smtp_server.ts";
import { enqueue, startTestRelay } from "./_relay.ts";

Deno.test({
  name: "relay slows down on 421 and retries later",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    let busy = true;
    await using server = await startSmtpServer({
      onMailFrom(_a, _s, cb) {
        if (busy) return cb(smtpError(421, "4.7.0 Too many connections, slow down"));
        cb();
      },
    });
    await using r = await startTestRelay({ routes: `*=127.0.0.1:${server.port}` });
    await enqueue(r, { to: ["x@busy.test"] });
    await r.pumpUntil(async () => (await r.statuses())["x@busy.test"] === "deferred", "deferral");
    const row = await r.t.db.selectFrom("ferry.deliveries").selectAll().executeTakeFirstOrThrow();
    assert.equal(row.last_code, 421);
    busy = false;
    await r.pumpUntil(
      async () => (await r.statuses())["x@busy.test"] === "delivered",
      "retry",
      4_000,
      500,
    );
    assert.equal(server.messages.length, 1);
  },
});
