import assert from "node:assert/strict";
import { idleDelay, Poller } from "../../actors/poller.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";

Deno.test("idleDelay() doubles from min to max while polls come back empty", () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 50].map((n) => idleDelay(n, 5, 50)),
    [0, 5, 10, 20, 40, 50, 50, 50],
  );
});

Deno.test("Poller.run() polls again at once while batches are full and backs off when idle", async () => {
  const clock = new FakeClock();
  const script = [true, true, false, false, false];
  const at: number[] = [];
  const stop = new AbortController();
  const poller = new Poller({
    clock,
    minMs: 5,
    maxMs: 50,
    onError: (e) => assert.fail(String(e)),
    poll: () => {
      at.push(clock.now() - start);
      const more = script.shift() ?? false;
      if (at.length === 8) stop.abort();
      return Promise.resolve({ more });
    },
  });
  const start = clock.now();
  const run = poller.run(stop.signal);
  for (let i = 0; i < 100 && !stop.signal.aborted; i++) await clock.advance(5);
  await run;
  // full, full, then empty polls: waits of 5, 10, 20, 40, 50 ms between them (with 5 ms ticks).
  assert.deepEqual(at, [0, 0, 0, 5, 15, 35, 75, 125]);
});

Deno.test("Poller.wake() cuts an idle wait short", async () => {
  const clock = new FakeClock();
  let polls = 0;
  const stop = new AbortController();
  const poller = new Poller({
    clock,
    minMs: 1000,
    maxMs: 1000,
    onError: () => {},
    poll: () => {
      if (++polls === 2) stop.abort();
      return Promise.resolve({ more: false });
    },
  });
  const run = poller.run(stop.signal);
  await clock.untilSleeping();
  poller.wake();
  await run;
  assert.equal(polls, 2);
  assert.equal(clock.pending, 0, "no timer left behind");
});

Deno.test("Poller.run() reports a failed poll and goes on after the longest wait", async () => {
  const clock = new FakeClock();
  const errors: unknown[] = [];
  let polls = 0;
  const stop = new AbortController();
  const poller = new Poller({
    clock,
    minMs: 5,
    maxMs: 50,
    onError: (e) => errors.push(e),
    poll: () => {
      polls++;
      if (polls === 1) return Promise.reject(new Error("connection refused"));
      stop.abort();
      return Promise.resolve({ more: false });
    },
  });
  const run = poller.run(stop.signal);
  await clock.untilSleeping();
  await clock.advance(49);
  assert.equal(polls, 1);
  await clock.advance(1);
  await run;
  assert.equal(polls, 2);
  assert.equal((errors[0] as Error).message, "connection refused");
});

Deno.test("Poller.wake() cuts waits short with one preallocated reason, not a new DOMException each time", async () => {
  const clock = new FakeClock();
  const reasons: unknown[] = [];
  const spy = {
    now: () => clock.now(),
    sleep(ms: number, signal?: AbortSignal) {
      signal?.addEventListener("abort", () => reasons.push(signal.reason), { once: true });
      return clock.sleep(ms, signal);
    },
  };
  const stop = new AbortController();
  const poller = new Poller({
    clock: spy,
    minMs: 5,
    maxMs: 50,
    onError: (e) => assert.fail(String(e)),
    poll: () => Promise.resolve({ more: false }),
  });
  const run = poller.run(stop.signal);
  for (let i = 0; i < 3; i++) {
    await clock.untilSleeping();
    poller.wake();
  }
  await clock.untilSleeping();
  stop.abort();
  await run;
  assert.equal(reasons.length, 4);
  assert.ok(reasons[0] === reasons[1] && reasons[1] === reasons[2], "the same reason each time");
  assert.notEqual(reasons[3], reasons[0], "a stop keeps its own reason");
});

Deno.test("Poller.run() keeps the shortest wait while polls find rows, and backs off once they stop", async () => {
  const clock = new FakeClock();
  // A steady stream: every poll finds a row or two (never a full batch), then it stops.
  const script = [true, true, true, true, false, false];
  const at: number[] = [];
  const stop = new AbortController();
  const poller = new Poller({
    clock,
    minMs: 5,
    maxMs: 50,
    onError: (e) => assert.fail(String(e)),
    poll: () => {
      at.push(clock.now() - start);
      const found = script.shift() ?? false;
      if (at.length === 7) stop.abort();
      return Promise.resolve({ more: false, found });
    },
  });
  const start = clock.now();
  const run = poller.run(stop.signal);
  for (let i = 0; i < 100 && !stop.signal.aborted; i++) await clock.advance(5);
  await run;
  assert.deepEqual(at, [0, 5, 10, 15, 20, 30, 50]);
});

Deno.test("Poller.wake() while a poll runs makes the next poll start at once", async () => {
  const clock = new FakeClock();
  let polls = 0;
  const stop = new AbortController();
  const poller = new Poller({
    clock,
    minMs: 1000,
    maxMs: 1000,
    onError: () => {},
    poll: () => {
      polls++;
      // The notification of a row committed just after this poll's snapshot.
      if (polls === 1) poller.wake();
      if (polls === 2) stop.abort();
      return Promise.resolve({ more: false });
    },
  });
  await poller.run(stop.signal);
  assert.equal(polls, 2, "polled again without any clock advance");
  assert.equal(clock.now(), Date.UTC(2026, 0, 1), "no time passed");
});
