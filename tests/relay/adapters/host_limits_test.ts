import assert from "node:assert/strict";
import { HostLimits } from "../../../relay/adapters/host_limits.ts";

Deno.test("HostLimits.acquire() caps one host:port and serves waiters in arrival order", async () => {
  const limits = new HostLimits(2);
  const a = await limits.acquire("10.0.0.1", 25);
  const b = await limits.acquire("10.0.0.1", 25);
  // Another port, another host: their own slots.
  using other = await limits.acquire("10.0.0.1", 587);
  using third = await limits.acquire("10.0.0.2", 25);
  assert.equal(limits.inUse("10.0.0.1", 25), 2);
  assert.equal(other.released || third.released, false);

  const order: string[] = [];
  const c = limits.acquire("10.0.0.1", 25).then((p) => (order.push("c"), p));
  const d = limits.acquire("10.0.0.1", 25).then((p) => (order.push("d"), p));
  await Promise.resolve();
  assert.deepEqual(order, []);
  a.release();
  a.release(); // twice is a no-op
  const pc = await c;
  assert.deepEqual(order, ["c"]);
  b[Symbol.dispose]();
  const pd = await d;
  assert.deepEqual(order, ["c", "d"]);
  pc.release();
  pd.release();
  assert.equal(limits.inUse("10.0.0.1", 25), 0);
});

Deno.test("HostLimits.acquire() stops waiting when the signal aborts and keeps no slot", async () => {
  const limits = new HostLimits(1);
  const held = await limits.acquire("h", 25);
  const stop = new AbortController();
  const waiting = limits.acquire("h", 25, stop.signal);
  stop.abort(new Error("draining"));
  await assert.rejects(waiting, /draining/);
  held.release();
  assert.equal(limits.inUse("h", 25), 0);
  using again = await limits.acquire("h", 25);
  assert.equal(limits.inUse("h", 25), 1);
  assert.equal(again.released, false);
});

Deno.test("HostLimits() refuses a cap below 1", () => {
  assert.throws(() => new HostLimits(0), /'perHost' must be an integer >= 1: current value is 0/);
});

Deno.test("HostLimits permits are told when another connection waits for their host", async () => {
  const limits = new HostLimits(1);
  const held = await limits.acquire("h", 25);
  let told = 0;
  held.onWanted(() => told++);
  assert.equal(held.wanted, false);
  const waiting = limits.acquire("h", 25);
  assert.equal(told, 1);
  assert.equal(held.wanted, true);
  held.release();
  const next = await waiting;
  assert.equal(next.wanted, false);
  // Registered while someone already waits: told at once.
  const third = limits.acquire("h", 25);
  let late = 0;
  next.onWanted(() => late++);
  assert.equal(late, 1);
  next.release();
  (await third).release();
});
