/** A destination limited to 10/s never sees more than 10 messages in any 1 s window. */
import assert from "node:assert/strict";
import { startSmtpServer } from "../relay/smtp/_smtp_server.ts";
import { enqueue, startTestRelay } from "./_relay.ts";

Deno.test({
  name: "relay keeps a destination's 10/s rate, measured at the receiver",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const seen: number[] = [];
    let clockNow = () => 0;
    await using server = await startSmtpServer({
      onMailFrom(_a, _s, cb) {
        seen.push(clockNow()); // the relay's (fake) time at which each transaction arrives
        cb();
      },
    });
    await using r = await startTestRelay({
      routes: `*=127.0.0.1:${server.port}`,
      config: {
        domains: { "limited.test": { rates: ["10/s"], maxConnections: 4, initialConnections: 4 } },
      },
    });
    clockNow = () => r.clock.now();
    for (let i = 0; i < 30; i++) await enqueue(r, { to: [`u${i}@limited.test`] });
    // Small steps: fake time must not race ahead of the real socket I/O of a transaction in
    // flight, or arrival times would bunch up by an artefact of the test.
    await r.pumpUntil(() => server.messages.length === 30, "30 deliveries", 1, 20_000);
    seen.sort((a, b) => a - b);
    let worst = 0;
    for (let i = 0; i < seen.length; i++) {
      const inWindow = seen.filter((t) => t >= seen[i]! && t < seen[i]! + 1000).length;
      worst = Math.max(worst, inWindow);
    }
    console.log(
      `most transactions in any 1 s window: ${worst}; span ${(seen.at(-1)! - seen[0]!) / 1000} s`,
    );
    assert.ok(worst <= 10, `${worst} in one second`);
    assert.ok(seen.at(-1)! - seen[0]! >= 2_900, "30 messages at 10/s take at least 2.9 s");
  },
});
