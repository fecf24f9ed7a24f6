/**
 * Through the real relay path: one outbox row's recipients at one destination travel in one
 * SMTP transaction, up to maxRecipientsPerTransaction (100), whatever the concurrency.
 */
import assert from "node:assert/strict";
import { startSmtpServer } from "../relay/smtp/_smtp_server.ts";
import { enqueue, startTestRelay } from "./_relay.ts";

const rcpts = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => `${tag}${i}@one.test`);

Deno.test({
  name: "relay sends one transaction per message: 10 → 1, 150 → 100 + 50, never split",
  sanitizeResources: false, // smtp-server (node:net) closes its sockets after close() resolves
  sanitizeOps: false,
  async fn() {
    await using server = await startSmtpServer();
    await using r = await startTestRelay({
      routes: `*=127.0.0.1:${server.port}`,
      // One connection: the claim cap (connections × queued per connection) is smallest.
      config: { domains: { "one.test": { maxConnections: 1, initialConnections: 1 } } },
    });
    const ten = rcpts(10, "t");
    const big = rcpts(150, "b");
    const many = Array.from({ length: 6 }, (_, m) => rcpts(40, `m${m}x`));
    await enqueue(r, { to: ten, subject: "ten" });
    await enqueue(r, { to: big, subject: "big" });
    for (const to of many) await enqueue(r, { to, subject: "many" });
    const total = 10 + 150 + 6 * 40;
    await r.pumpUntil(
      async () =>
        Object.values(await r.statuses()).filter((s) => s === "delivered").length === total,
      "all delivered",
    );
    const sizesOf = (list: string[]) =>
      server.messages.filter((m) => m.recipients.some((x) => list.includes(x)))
        .map((m) => m.recipients.length).sort((a, b) => b - a);
    assert.deepEqual(sizesOf(ten), [10]);
    assert.deepEqual(sizesOf(big), [100, 50]);
    for (const to of many) assert.deepEqual(sizesOf(to), [40]);
    const all = server.messages.flatMap((m) => m.recipients);
    assert.equal(all.length, total, "every recipient once");
    assert.equal(new Set(all).size, total);
  },
});
