/**
 * openPop3() against a silent TCP peer on loopback: a server that accepts and never greets.
 */
import assert from "node:assert/strict";
import { TimeoutError } from "../../../lib/clock.ts";
import { openPop3 } from "../../../relay/pop3/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";

function silentServer(): { port: number; accepted: Promise<Deno.Conn>; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    accepted,
    close: () => listener.close(),
  };
}

Deno.test("openPop3() times out a server that never greets, on the injected clock", async () => {
  const server = silentServer();
  const clock = new FakeClock();
  const opening = openPop3({ host: "127.0.0.1", port: server.port, tls: "none" }, {
    clock,
    connectTimeoutMs: 60_000,
    commandTimeoutMs: 10_000,
  });
  let settled = false;
  opening.catch(() => undefined).finally(() => settled = true);
  const peer = await server.accepted;
  // Move fake time in steps, yielding to I/O in between, until the greeting deadline fires.
  // 40 s at most: the 60 s connect deadline cannot be the one that fires.
  for (let i = 0; i < 40 && !settled; i++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    await clock.advance(1_000);
  }
  await assert.rejects(() => opening, (err) => err instanceof TimeoutError && err.ms === 10_000);
  peer.close();
  server.close();
  assert.equal(clock.pending, 0);
});

Deno.test("openPop3() gives up when its signal aborts and leaves no socket behind", async () => {
  const server = silentServer();
  const stop = new AbortController();
  const opening = openPop3({ host: "127.0.0.1", port: server.port, tls: "none" }, {
    clock: new FakeClock(),
    signal: stop.signal,
  });
  const peer = await server.accepted;
  stop.abort(new Error("shutting down"));
  await assert.rejects(() => opening, /shutting down/);
  // The client side is closed: the peer reads end of stream.
  assert.equal(await peer.read(new Uint8Array(16)), null);
  peer.close();
  server.close();
});
