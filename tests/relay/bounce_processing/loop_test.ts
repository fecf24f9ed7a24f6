import assert from "node:assert/strict";
import { type BounceEvent } from "../../../relay/bounce_processing/events.ts";
import { type BounceLoopOptions, runBounceLoop } from "../../../relay/bounce_processing/loop.ts";
import { Secret } from "../../../lib/secret.ts";
import type { Pop3Client, Pop3Refused, Pop3Result } from "../../../relay/pop3/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeSink } from "./_fake_sink.ts";

function loopOptions(
  clock: FakeClock,
  signal: AbortSignal,
  connect: BounceLoopOptions["connect"],
  events: BounceEvent[],
): BounceLoopOptions {
  return {
    clock,
    signal,
    pollIntervalMs: 60_000,
    sink: new FakeSink(),
    mailbox: "bounces@pop.example.test",
    credentials: { user: "bounces", password: new Secret("pw") },
    connect,
    log: (e) => events.push(e),
  };
}

const unreachable = (): Promise<Pop3Result<Pop3Client> | Pop3Refused> =>
  Promise.resolve({ kind: "refused", command: "connect", reason: "no server in this test" });

Deno.test("runBounceLoop() polls at once, then once per interval on the injected clock", async () => {
  const clock = new FakeClock();
  const stop = new AbortController();
  const events: BounceEvent[] = [];
  let connects = 0;
  const loop = runBounceLoop(loopOptions(clock, stop.signal, () => {
    connects++;
    return unreachable();
  }, events));
  await clock.untilSleeping();
  assert.equal(connects, 1);
  await clock.advance(59_999);
  assert.equal(connects, 1);
  await clock.advance(1);
  await clock.untilSleeping();
  assert.equal(connects, 2);
  await clock.advance(120_000);
  await clock.untilSleeping();
  assert.equal(connects, 4);
  stop.abort();
  await loop;
  assert.equal(clock.pending, 0);
  // A failed poll is reported and the loop carries on.
  assert.equal(events.length, 4);
  assert.ok(
    events.every((e) =>
      e.kind === "bounce.poll_finished" && e.report.kind === "failed" &&
      e.report.stage === "connect"
    ),
  );
});

Deno.test("runBounceLoop() stops a poll in flight when aborted", async () => {
  const clock = new FakeClock();
  const stop = new AbortController();
  const events: BounceEvent[] = [];
  let connectSignal: AbortSignal | undefined;
  const loop = runBounceLoop(loopOptions(clock, stop.signal, (signal) => {
    connectSignal = signal;
    // A connect that only ends when its signal aborts, as openPop3 does.
    return new Promise((_, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason))
    );
  }, events));
  await Promise.resolve();
  assert.ok(connectSignal && !connectSignal.aborted);
  stop.abort(new Error("shutting down"));
  await loop;
  assert.equal(events.length, 1);
  assert.ok(events[0]?.kind === "bounce.poll_finished" && events[0].report.kind === "aborted");
  assert.equal(clock.pending, 0);
});

Deno.test("runBounceLoop() refuses a non-positive interval", async () => {
  const options = loopOptions(new FakeClock(), new AbortController().signal, unreachable, []);
  await assert.rejects(() => runBounceLoop({ ...options, pollIntervalMs: 0 }), RangeError);
});
