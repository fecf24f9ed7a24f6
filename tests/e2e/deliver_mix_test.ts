/**
 * INSERT INTO ferry.outbox → delivered at a real SMTP server, for a mix of domains, priorities,
 * a future send_at and a cancellation while queued.
 */
import assert from "node:assert/strict";
import { cancelMessage } from "../../db/queue.ts";
import { startSmtpServer } from "../relay/smtp/_smtp_server.ts";
import { enqueue, startTestRelay } from "./_relay.ts";

Deno.test({
  name: "relay delivers a mix of domains and priorities, honours send_at and cancellation",
  async fn() {
    await using server = await startSmtpServer();
    await using r = await startTestRelay({ routes: `*=127.0.0.1:${server.port}` });
    await enqueue(r, { to: ["a@one.test", "b@one.test", "c@two.test"], subject: "multi" });
    await enqueue(r, { to: ["d@three.test"], priority: 0, subject: "urgent" });
    await enqueue(r, { to: ["e@two.test"], priority: 2, subject: "low" });
    await enqueue(r, {
      to: ["later@one.test"],
      sendAt: r.clock.now() + 3_600_000,
      subject: "later",
    });
    const cancelled = await enqueue(r, { to: ["gone@four.test"], sendAt: r.clock.now() + 600_000 });
    await r.pumpUntil(async () => Object.values(await r.statuses()).length === 7, "ingestion");
    assert.deepEqual(await cancelMessage(r.t.db, cancelled, { now: new Date(r.clock.now()) }), {
      cancelled: 1,
      inFlight: 0,
    });
    await r.pumpUntil(
      async () => Object.values(await r.statuses()).filter((s) => s === "delivered").length === 5,
      "five deliveries",
    );
    const s = await r.statuses();
    assert.equal(s["later@one.test"], "queued", "not before send_at");
    assert.equal(s["gone@four.test"], "cancelled");
    // The two one.test recipients of the first message went in one transaction.
    const multi = server.messages.find((m) => m.recipients.includes("a@one.test"))!;
    assert.deepEqual(multi.recipients.sort(), ["a@one.test", "b@one.test"]);
    assert.equal(multi.mailFrom, "sender@ferry.test");
    const text = new TextDecoder().decode(multi.content);
    assert.match(text, /^Subject: multi\r$/m);
    assert.match(text, /^Message-ID: <ferry\.\d+\.[0-9a-f]+@relay\.test>\r$/m);
    // Steps shorter than the 15 s destination lease, which is renewed every 5 s.
    await r.pumpUntil(
      async () => (await r.statuses())["later@one.test"] === "delivered",
      "send_at reached",
      4_000,
      1_500,
    );
    const events = await r.t.db.selectFrom("ferry.events").select(["kind", "code", "mx_host"])
      .execute();
    assert.equal(events.filter((e) => e.kind === "delivered").length, 6);
    assert.ok(
      events.every((e) => e.kind !== "delivered" || (e.code === 250 && e.mx_host === "127.0.0.1")),
    );
  },
});
