import assert from "node:assert/strict";
import { webhooksSchema } from "../../../relay/webhooks/config.ts";
import {
  startWebhookDispatcher,
  type WebhookLogEvent,
} from "../../../relay/webhooks/dispatcher.ts";
import { verifyWebhookSignature } from "../../../relay/webhooks/signature.ts";
import { insertMessage } from "../../../db/admin_queries.ts";
import { ingestOutbox } from "../../../db/ingest.ts";
import type { Db } from "../../../db/client.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { testDatabase } from "../../_support/db.ts";
import { insertMany } from "../../_support/outbox.ts";
import { settleAll } from "../admin/_helpers.ts";
import { startReceiver } from "./_receiver.ts";

const secret = "webhook-secret-0123456789";

/** Collects the dispatcher's events and lets the test wait for the next one of a kind. */
class Events {
  readonly all: WebhookLogEvent[] = [];
  #waiters: { kind: string; after: number; resolve: (e: WebhookLogEvent) => void }[] = [];
  readonly hook = (e: WebhookLogEvent) => {
    if (Deno.env.get("DBG")) console.log("EV", JSON.stringify(e));
    this.all.push(e);
    for (const w of this.#waiters) {
      if (w.kind === e.kind && this.count(e.kind) > w.after) w.resolve(e);
    }
    this.#waiters = this.#waiters.filter((w) =>
      !(w.kind === e.kind && this.count(e.kind) > w.after)
    );
  };
  count(kind: string): number {
    return this.all.filter((e) => e.kind === kind).length;
  }
  /** The next event of `kind` after the ones seen so far. */
  next<K extends WebhookLogEvent["kind"]>(kind: K): Promise<Extract<WebhookLogEvent, { kind: K }>> {
    const after = this.count(kind);
    return new Promise((resolve) =>
      this.#waiters.push({ kind, after, resolve: resolve as (e: WebhookLogEvent) => void })
    );
  }
}

async function deliverSome(db: Db, now: Date, n: number, status: "delivered" | "bounced") {
  await insertMany(db, n, `${status}.test`, now);
  await ingestOutbox(db, { now });
  let total = 0;
  for (let i = 0; i < 100; i++) { // a claim takes at most 50 rows of one domain
    const n = await settleAll(db, now, status);
    if (n === 0) break;
    total += n;
  }
  return total;
}

Deno.test("startWebhookDispatcher() POSTs signed events the receiver verifies", async () => {
  await using t = await testDatabase();
  await using receiver = startReceiver();
  const clock = new FakeClock();
  const events = new Events();
  const config = webhooksSchema.parse({ urls: [receiver.url], secret, pollInterval: "1s" });
  const stop = new AbortController();
  const firstPass = events.next("webhook.pass");
  const dispatcher = startWebhookDispatcher({
    db: t.db,
    clock,
    config,
    signal: stop.signal,
    onEvent: events.hook,
  });
  await firstPass;
  await clock.untilSleeping();

  const now = new Date(clock.now());
  const id = (await insertMessage(t.db, {
    from_address: "shop@ferry.test",
    to_addresses: ["ada@a.test"],
    text_body: "hi",
    metadata: { order: 42 },
    send_at: now,
  })).id;
  await ingestOutbox(t.db, { now });
  await settleAll(t.db, now, "delivered");
  await deliverSome(t.db, now, 1, "bounced");

  const sent = events.next("webhook.pass");
  await clock.advance(1000);
  assert.equal((await sent).attempted, 2);
  assert.equal(receiver.received.length, 2);
  const bodies = receiver.received.map((r) => {
    const check = verifyWebhookSignature(r.headers.get("ferry-signature"), r.body, secret, {
      nowSeconds: clock.now() / 1000,
    });
    assert.equal(check.kind, "valid");
    const body = JSON.parse(r.body);
    assert.equal(r.headers.get("ferry-event-id"), body.id);
    assert.equal(r.headers.get("content-type"), "application/json");
    return body;
  });
  assert.deepEqual(bodies.map((b) => b.type), ["delivered", "bounced"]);
  assert.equal(bodies[0].data.outbox_id, id);
  assert.equal(bodies[0].data.recipient, "ada@a.test");
  assert.deepEqual(bodies[0].data.metadata, { order: 42 });
  assert.equal(bodies[1].data.code, 550);

  const rows = await t.db.selectFrom("ferry.webhook_deliveries" as never)
    .select(["status" as never, "attempts" as never]).execute() as {
      status: string;
      attempts: number;
    }[];
  assert.deepEqual(rows.map((r) => [r.status, r.attempts]), [["delivered", 1], ["delivered", 1]]);

  // Already delivered: nothing is sent twice.
  const idle = events.next("webhook.pass");
  await clock.advance(1000);
  assert.equal((await idle).attempted, 0);
  stop.abort();
  await dispatcher.done;
  assert.equal(clock.pending, 0);
});

Deno.test("startWebhookDispatcher() retries a failing receiver on the backoff schedule, then gives up", async () => {
  await using t = await testDatabase();
  await using receiver = startReceiver();
  receiver.mode = 500;
  const clock = new FakeClock();
  const events = new Events();
  const config = webhooksSchema.parse({
    urls: [receiver.url],
    secret,
    pollInterval: "1s",
    retryBase: "30s",
    maxAttempts: 4,
  });
  const stop = new AbortController();
  const firstPass = events.next("webhook.pass");
  const dispatcher = startWebhookDispatcher({
    db: t.db,
    clock,
    config,
    signal: stop.signal,
    onEvent: events.hook,
  });
  await firstPass;
  await clock.untilSleeping();
  await deliverSome(t.db, new Date(clock.now()), 1, "delivered");

  const first = events.next("webhook.attempted");
  let passed = events.next("webhook.pass");
  await clock.advance(1000);
  const attempts = [await first];
  await passed;
  for (const wait of [30, 60, 120]) {
    await clock.untilSleeping();
    passed = events.next("webhook.pass");
    await clock.advance(wait * 1000 - 1000);
    assert.equal((await passed).attempted, 0, `nothing before ${wait}s`);
    await clock.untilSleeping();
    const attempted = events.next("webhook.attempted");
    passed = events.next("webhook.pass");
    await clock.advance(1000);
    attempts.push(await attempted);
    await passed;
  }
  const t0 = attempts[0]!.at;
  assert.deepEqual(attempts.map((a) => (a.at - t0) / 1000), [0, 30, 90, 210]);
  assert.deepEqual(attempts.map((a) => [a.attempt, a.outcome, a.status]), [
    [1, "failed", 500],
    [2, "failed", 500],
    [3, "failed", 500],
    [4, "failed", 500],
  ]);
  assert.equal(receiver.received.length, 4);
  const [row] = await t.db.selectFrom("ferry.webhook_deliveries" as never)
    .select(["status" as never, "last_error" as never]).execute() as {
      status: string;
      last_error: string;
    }[];
  assert.deepEqual(row, { status: "failed", last_error: "HTTP 500 Internal Server Error" });

  // Given up: an hour more brings no attempt.
  await clock.untilSleeping();
  passed = events.next("webhook.pass");
  await clock.advance(3_600_000);
  await passed;
  assert.equal(receiver.received.length, 4);
  stop.abort();
  await dispatcher.done;
});

Deno.test("startWebhookDispatcher() never holds up deliveries while a receiver hangs", async () => {
  await using t = await testDatabase();
  await using receiver = startReceiver();
  receiver.mode = "hang";
  const clock = new FakeClock();
  const events = new Events();
  const config = webhooksSchema.parse({
    urls: [receiver.url],
    secret,
    pollInterval: "1s",
    timeout: "10s",
  });
  const stop = new AbortController();
  const firstPass = events.next("webhook.pass");
  const dispatcher = startWebhookDispatcher({
    db: t.db,
    clock,
    config,
    signal: stop.signal,
    onEvent: events.hook,
  });
  await firstPass;
  await clock.untilSleeping();
  await deliverSome(t.db, new Date(clock.now()), 1, "delivered");
  const timedOut = events.next("webhook.attempted");
  await clock.advance(1000);
  await receiver.arrived(1); // the POST is in flight and its receiver does not answer
  const hungPass = events.next("webhook.pass");

  // Meanwhile the relay delivers 200 more messages: every queue statement goes through (on
  // PGlite's single connection too: the dispatcher holds no transaction while it waits).
  const delivered = await deliverSome(t.db, new Date(clock.now()), 200, "delivered");
  assert.equal(delivered, 200);

  await clock.advance(10_000); // the POST's deadline
  const failed = await timedOut;
  assert.equal(failed.outcome, "failed");
  assert.match(failed.error!, /TimeoutError/);
  await hungPass;
  receiver.mode = 200; // the receiver recovers
  await clock.untilSleeping();
  const fanned = events.next("webhook.pass");
  await clock.advance(1000);
  const caughtUp = await fanned;
  assert.equal(caughtUp.fannedOut, 200, "the new events are picked up after the fact");
  assert.equal(caughtUp.attempted, config.concurrency * 4, "a bounded batch per pass");
  receiver.release();
  stop.abort();
  await dispatcher.done;
});
