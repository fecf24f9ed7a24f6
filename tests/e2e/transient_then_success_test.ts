/** A 4xx on the first attempt, success on the retry five minutes later. */
import assert from "node:assert/strict";
import { smtpError, startSmtpServer } from "../relay/smtp/_smtp_server.ts";
import { enqueue, startTestRelay } from "./_relay.ts";

Deno.test({
  name: "relay defers a 4xx and delivers on the retry",
  async fn() {
    let calls = 0;
    await using server = await startSmtpServer({
      onRcptTo(_a, _s, cb) {
        if (++calls === 1) return cb(smtpError(451, "4.7.1 Greylisted, try again later"));
        cb();
      },
    });
    await using r = await startTestRelay({ routes: `*=127.0.0.1:${server.port}` });
    await enqueue(r, { to: ["grey@list.test"] });
    await r.pumpUntil(
      async () => (await r.statuses())["grey@list.test"] === "deferred",
      "deferral",
    );
    const deferred = await r.t.db.selectFrom("ferry.deliveries").selectAll()
      .executeTakeFirstOrThrow();
    assert.equal(deferred.last_code, 451);
    assert.match(deferred.last_reply!, /451 4\.7\.1 Greylisted/);
    const due = new Date(deferred.next_attempt_at).getTime() - r.clock.now();
    assert.ok(due > 4 * 60_000 && due <= 5 * 60_000, `next attempt in ${due} ms: ~5 minutes`);
    await r.pumpUntil(
      async () => (await r.statuses())["grey@list.test"] === "delivered",
      "retry",
      4_000,
      500,
    );
    const row = await r.t.db.selectFrom("ferry.deliveries").selectAll().executeTakeFirstOrThrow();
    assert.equal(row.attempts, 2);
    const kinds = (await r.t.db.selectFrom("ferry.events").select("kind").orderBy("id").execute())
      .map((e) => e.kind);
    assert.deepEqual(kinds, ["deferred", "delivered"]);
    assert.equal(server.messages.length, 1);
  },
});
