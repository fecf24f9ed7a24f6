/**
 * A destination limited to "100/m" with a burst of 20 (at most 119 in any minute) keeps that
 * limit, counted at the receiver, across a restart of the relay and a move of its lease to a
 * second instance, both in the middle of the minute: the budget's state is saved in
 * `ferry.destination_state` and the next actor continues from it. The same run with limits in
 * memory only (a store that forgets) shows what that prevents: each restart and each lease move
 * hands out the burst again.
 *
 * Timeline on the relays' FakeClock: instance a sends for 20 s, restarts (a graceful stop, then a
 * new relay on the same database) and sends for 20 s more; instance b starts beside it; a stops,
 * its lease goes to b, which sends on to 75 s.
 */
import assert from "node:assert/strict";
import type { DestinationStateStore } from "../../actors/ports.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";
import { startSmtpServer } from "../relay/smtp/_smtp_server.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";
import { enqueue, startTestRelay, T0, type TestRelay } from "./_relay.ts";

const SECOND = 1_000;
const MINUTE = 60_000;
const COUNT = 100;
const BURST = 20;
const CONFIG = {
  domains: {
    "limited.test": {
      rates: [{ rate: `${COUNT}/m`, burst: BURST }],
      maxConnections: 2,
      initialConnections: 2,
    },
  },
};
/** Fake time per pump step: far below the 612 ms spacing of the budget. */
const STEP_MS = 20;

/** Limits in memory only, as before they were kept: nothing to load, nothing kept. */
const forgetful: DestinationStateStore = {
  load: () => Promise.resolve(new Map()),
  save: () => Promise.resolve({ refused: [] }),
};

interface Run {
  /** Arrival times at the receiver (the relays' clock), with the phase that sent each. */
  readonly arrivals: { at: number; phase: string }[];
  /** When the restart and the lease move happened. */
  readonly restartAt: number;
  readonly moveAt: number;
  /** The state row's owner and age seen while a sent, and at the end. */
  readonly rowWhileA: { owner: string; ageMs: number } | undefined;
  readonly rowAtEnd: { owner: string } | undefined;
  readonly deliveredBy: Record<string, number>;
}

async function run(persist: boolean): Promise<Run> {
  await using t = await testDatabase();
  const clock = new FakeClock(T0);
  let phase = "a";
  const arrivals: Run["arrivals"] = [];
  await using server = await startSmtpServer({
    onMailFrom(_a, _s, cb) {
      arrivals.push({ at: clock.now(), phase });
      cb();
    },
  });
  const options = (instance: string) => ({
    routes: `*=127.0.0.1:${server.port}`,
    config: CONFIG,
    instance,
    clock,
    ...(persist ? {} : { deps: { destinationStates: forgetful } }),
  });
  const until = (r: TestRelay, at: number) =>
    r.pumpUntil(() => clock.now() >= at, `fake time ${at - T0} ms`, STEP_MS, 10_000, 120_000);
  const row = async () => {
    const r = await t.db.selectFrom("ferry.destination_state").selectAll()
      .where("key", "=", "limited.test").executeTakeFirst();
    return r && { owner: r.owner, ageMs: clock.now() - new Date(r.updated_at).getTime() };
  };

  const a1 = await startTestRelay({ ...options("a"), database: t });
  for (let i = 0; i < 250; i++) await enqueue(a1, { to: [`u${i}@limited.test`] });
  await until(a1, T0 + 20 * SECOND);
  const rowWhileA = await row();
  // Restart: a graceful stop, then a new relay with the same name on the same database.
  const restartAt = clock.now();
  await a1[Symbol.asyncDispose]();
  phase = "a (restarted)";
  const a2 = await startTestRelay({ ...options("a"), database: t });
  await until(a2, restartAt + 20 * SECOND);
  // A second instance starts; the first stops and hands its lease back, so b takes it over.
  const b = await startTestRelay({ ...options("b"), peer: a2 });
  await until(b, clock.now() + SECOND);
  const moveAt = clock.now();
  phase = "b";
  await a2[Symbol.asyncDispose]();
  await until(b, T0 + 75 * SECOND);
  const events = await t.db.selectFrom("ferry.events").select(["instance"])
    .where("kind", "=", "delivered").execute();
  const deliveredBy: Record<string, number> = {};
  for (const e of events) {
    deliveredBy[e.instance ?? "?"] = (deliveredBy[e.instance ?? "?"] ?? 0) + 1;
  }
  const rowAtEnd = await row();
  await b[Symbol.asyncDispose]();
  return { arrivals, restartAt, moveAt, rowWhileA, rowAtEnd, deliveredBy };
}

/** The most arrivals in any half-open window [t, t + width), and where it starts. */
function busiest(times: readonly number[], width: number): { most: number; from: number } {
  const sorted = [...times].sort((x, y) => x - y);
  let most = 0;
  let from = sorted[0] ?? 0;
  let j = 0;
  for (let i = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= width) j++;
    if (i - j + 1 > most) [most, from] = [i - j + 1, sorted[j]!];
  }
  return { most, from };
}

/** Arrivals per phase, and per minute from T0. */
function report(name: string, r: Run): number {
  const times = r.arrivals.map((x) => x.at);
  const { most, from } = busiest(times, MINUTE);
  const perPhase: Record<string, number> = {};
  for (const x of r.arrivals) perPhase[x.phase] = (perPhase[x.phase] ?? 0) + 1;
  const perMinute = [0, 1].map((m) =>
    times.filter((t) => t >= T0 + m * MINUTE && t < T0 + (m + 1) * MINUTE).length
  );
  console.log(
    `${name}: ${times.length} arrivals; per phase ${JSON.stringify(perPhase)}; ` +
      `minutes [0, 60) s and [60, 120) s: ${perMinute.join(", ")}; ` +
      `busiest 60 s window ${most} (from ${(from - T0) / 1000} s); ` +
      `restart at ${(r.restartAt - T0) / 1000} s, lease moved at ${(r.moveAt - T0) / 1000} s`,
  );
  return most;
}

Deno.test({
  name:
    "a 100/m budget holds at the receiver across a restart and a lease move; in memory only it does not",
  ignore: serverOnly,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const kept = await run(true);
    const most = report("persisted", kept);
    assert.ok(most <= COUNT + BURST - 1, `${most} in one minute with the state persisted`);
    // Every phase sent, and the move was real: both instances delivered, b holds the row.
    assert.ok(kept.deliveredBy.a! > 0 && kept.deliveredBy.b! > 0, JSON.stringify(kept.deliveredBy));
    assert.equal(kept.rowAtEnd?.owner, "b");
    // Written while a sent, at most a flush interval (plus a pump step) before it was read.
    assert.equal(kept.rowWhileA?.owner, "a");
    assert.ok(kept.rowWhileA.ageMs <= SECOND + STEP_MS, `row ${kept.rowWhileA.ageMs} ms old`);

    const forgot = await run(false);
    const worst = report("in memory only", forgot);
    assert.ok(worst > COUNT + BURST, `${worst} in one minute without persistence`);
  },
});
