/** A mail whose retry would fall after expires_at ends expired, its last reply kept. */
import assert from "node:assert/strict";
import { smtpError, startSmtpServer } from "../relay/smtp/_smtp_server.ts";
import { enqueue, startTestRelay } from "./_relay.ts";

Deno.test({
  name: "relay expires a mail that cannot be delivered before expires_at",
  async fn() {
    await using server = await startSmtpServer({
      onRcptTo(_a, _s, cb) {
        cb(smtpError(452, "4.2.2 Mailbox full"));
      },
    });
    await using r = await startTestRelay({ routes: `*=127.0.0.1:${server.port}` });
    await enqueue(r, { to: ["full@x.test"], expiresAt: r.clock.now() + 120_000 });
    await r.pumpUntil(async () => (await r.statuses())["full@x.test"] === "expired", "expiry");
    const row = await r.t.db.selectFrom("ferry.deliveries").selectAll().executeTakeFirstOrThrow();
    assert.equal(row.attempts, 1);
    assert.equal(row.last_code, 452);
    assert.match(row.last_reply!, /Mailbox full/);
  },
});
