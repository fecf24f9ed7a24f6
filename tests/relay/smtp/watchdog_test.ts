/**
 * The channel's deadlines on one reusable timer: each operation still times out exactly after
 * its own phase timeout, and no timer is left when nothing is in flight.
 */
import assert from "node:assert/strict";
import { CLOSED, Watchdog } from "../../../relay/smtp/watchdog.ts";
import { SessionBrokenError } from "../../../relay/smtp/session_error.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";

const SECOND = 1_000;

/** Records how `expired` settles, without an unhandled rejection. */
function watch(expired: Promise<never>): { readonly reason: unknown } {
  const seen: { reason: unknown } = { reason: undefined };
  expired.catch((reason) => seen.reason = reason);
  return seen;
}

function assertTimedOut(reason: unknown, phase: string, ms: number): void {
  assert.ok(reason instanceof SessionBrokenError, String(reason));
  assert.equal(reason.failure.enhanced, "4.4.2");
  assert.equal(reason.failure.text, `timed out after ${ms} ms in phase '${phase}'`);
}

Deno.test("Watchdog.arm() expires exactly after the phase timeout, waking every tick", async () => {
  const clock = new FakeClock();
  const watchdog = new Watchdog(clock, 20 * SECOND);
  watchdog.arm("mail", 300 * SECOND);
  const seen = watch(watchdog.expired);
  await clock.advance(300 * SECOND - 1);
  assert.equal(seen.reason, undefined);
  await clock.advance(1);
  assertTimedOut(seen.reason, "mail", 300 * SECOND);
  assert.equal(clock.pending, 0);
});

Deno.test("Watchdog.arm() gives every operation its own deadline from its start", async () => {
  const clock = new FakeClock();
  const watchdog = new Watchdog(clock, 20 * SECOND);
  const mail = watchdog.arm("mail", 300 * SECOND);
  const seen = watch(watchdog.expired);
  await clock.advance(250 * SECOND);
  // The next operation starts late in the first one's time: its own 180 s count from now.
  watchdog.disarm(mail);
  watchdog.arm("dataBlock", 180 * SECOND);
  await clock.advance(180 * SECOND - 1);
  assert.equal(seen.reason, undefined);
  await clock.advance(1);
  assertTimedOut(seen.reason, "dataBlock", 180 * SECOND);
});

Deno.test("Watchdog.arm() restarts the timer for a deadline before its next wake-up", async () => {
  const clock = new FakeClock();
  // A tick longer than the second deadline: the pending sleep would wake too late.
  const watchdog = new Watchdog(clock, 3_600 * SECOND);
  watchdog.arm("mail", 300 * SECOND);
  watchdog.arm("quit", 30 * SECOND);
  const seen = watch(watchdog.expired);
  assert.equal(clock.pending, 1);
  await clock.advance(30 * SECOND);
  assertTimedOut(seen.reason, "quit", 30 * SECOND);
});

Deno.test("Watchdog.stop() leaves no timer once nothing is in flight", async () => {
  const clock = new FakeClock();
  const watchdog = new Watchdog(clock, 20 * SECOND);
  const read = watchdog.arm("rcpt", 300 * SECOND);
  const write = watchdog.arm("mail", 300 * SECOND);
  watchdog.disarm(read);
  watchdog.stop();
  assert.equal(clock.pending, 1, "the write in flight keeps its deadline");
  watchdog.disarm(write);
  watchdog.stop();
  assert.equal(clock.pending, 0);
  await clock.advance(3_600 * SECOND);
  // Armed again, it times out as usual.
  watchdog.arm("rset", 20 * SECOND);
  const seen = watch(watchdog.expired);
  await clock.advance(20 * SECOND);
  assertTimedOut(seen.reason, "rset", 20 * SECOND);
});

Deno.test("Watchdog.close() ends the operations in flight with CLOSED and stops the timer", async () => {
  const clock = new FakeClock();
  const watchdog = new Watchdog(clock, 20 * SECOND);
  watchdog.arm("dataEnd", 600 * SECOND);
  const seen = watch(watchdog.expired);
  watchdog.close();
  await clock.advance(0);
  assert.equal(seen.reason, CLOSED);
  assert.equal(clock.pending, 0);
  const late = watch(watchdog.expired);
  await clock.advance(0);
  assert.equal(late.reason, CLOSED);
});
