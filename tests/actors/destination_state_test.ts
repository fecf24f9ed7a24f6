/**
 * Saving and restoring a destination's limits: GCRA rate budgets, the adaptive message rate and
 * AIMD concurrency, on a FakeClock. A restored budget must go on as the saved one would have;
 * the window bound of a rate must hold across any number of saves and restores.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { AdaptiveBudget } from "../../actors/adaptive_rate.ts";
import { Aimd, type AimdConfig, DEFAULT_AIMD_CONFIG } from "../../actors/aimd.ts";
import {
  DESTINATION_STATE_VERSION,
  type DestinationLimits,
  parseDestinationState,
  restoreLimits,
  saveLimits,
} from "../../actors/destination_state.ts";
import { type Rate, RateBudget } from "../../actors/rate_budget.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";

const SECOND = 1_000;
const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 1);

/** Through JSON, as the store keeps it. */
const viaJson = <T>(x: T): unknown => JSON.parse(JSON.stringify(x));

/** The most cells seen in any half-open window [t, t + width) of sorted `times`. */
function busiestWindow(times: readonly number[], width: number): number {
  let most = 0;
  let j = 0;
  for (let i = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= width) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

/** Takes one cell whenever the budget allows, from `from` to `to`; returns the times. */
function sendAll(budget: RateBudget, from: number, to: number): number[] {
  const times: number[] = [];
  let t = from;
  while (t < to) {
    const r = budget.tryTake(t);
    if (r.ok) times.push(t);
    else t = r.retryAt;
  }
  return times;
}

Deno.test("RateBudget.restore() continues a burst spent before the save as the budget in memory would", async () => {
  const clock = new FakeClock(T0);
  const rate: Rate = { count: 100, perMs: MINUTE, burst: 20 };
  const before = new RateBudget([rate]);
  for (let i = 0; i < 20; i++) assert.ok(before.tryTake(clock.now()).ok);
  const saved = viaJson(before.save());
  await clock.advance(5 * SECOND);
  const after = new RateBudget([rate]);
  after.restore(saved as ReturnType<RateBudget["save"]>, clock.now());
  assert.equal(after.available(clock.now()), before.available(clock.now()));
  assert.equal(after.whenAvailable(clock.now()), before.whenAvailable(clock.now()));
  // 5 s at 100/m (600 ms apart) gave 8 of the 20 back; a budget in memory only starts over.
  assert.equal(after.available(clock.now()), 8);
  assert.equal(new RateBudget([rate]).available(clock.now()), 20);
});

Deno.test("RateBudget.restore() after a gap longer than the period yields a full budget", async () => {
  const clock = new FakeClock(T0);
  const rate: Rate = { count: 50_000, perMs: 86_400_000, burst: 500 };
  const before = new RateBudget([rate]);
  for (let i = 0; i < 500; i++) assert.ok(before.tryTake(clock.now()).ok);
  const saved = before.save();
  assert.equal(saved[0]!.tat, T0 + 500 * (86_400_000 / 50_000));
  await clock.advance(86_400_000);
  const after = new RateBudget([rate]);
  after.restore(saved, clock.now());
  assert.equal(after.available(clock.now()), 500);
});

Deno.test("RateBudget.restore() matches rates by count and period; new rates start full, dropped ones are ignored", () => {
  const now = T0;
  const perSecond: Rate = { count: 10, perMs: SECOND, burst: 10 };
  const perMinute: Rate = { count: 100, perMs: MINUTE, burst: 30 };
  const before = new RateBudget([perSecond, perMinute]);
  for (let i = 0; i < 10; i++) assert.ok(before.tryTake(now).ok);
  const saved = before.save();
  // The operator replaced 10/s by 20/s and kept 100/m, in another order.
  const after = new RateBudget([perMinute, { count: 20, perMs: SECOND, burst: 20 }]);
  after.restore(saved, now);
  const [minute, second] = after.snapshot(now).rates;
  assert.equal(minute!.available, 20, "100/m keeps the 10 taken");
  assert.equal(second!.available, 20, "20/s is new: full");
});

Deno.test("RateBudget.restore() bounds a TAT saved on a clock that ran ahead by one burst of spacing", () => {
  const rate: Rate = { count: 10, perMs: SECOND, burst: 2 };
  const after = new RateBudget([rate]);
  after.restore([{ count: 10, perMs: SECOND, tat: T0 + 3_600_000 }], T0);
  assert.equal(after.whenAvailable(T0), T0 + 100, "at most burst x 100 ms ahead, not an hour");
  const never = new RateBudget([rate]);
  never.restore([{ count: 10, perMs: SECOND, tat: null }], T0);
  assert.equal(never.available(T0), 2, "a rate never used is full");
});

Deno.test("RateBudget: the window bound count + burst - 1 holds across saves and restores at any times", () => {
  // Whole-millisecond spacings: at epoch magnitudes a fractional spacing such as 1000/17 ms
  // drifts by float rounding over minutes, in memory as much as across a restart.
  const rateArb = fc.record({
    count: fc.constantFrom(1, 2, 4, 5, 8, 10, 20),
    perMs: fc.constantFrom(SECOND, 10 * SECOND, MINUTE),
    burst: fc.integer({ min: 1, max: 10 }),
  });
  fc.assert(
    fc.property(
      rateArb,
      fc.array(fc.integer({ min: 1, max: 3 * MINUTE }), { minLength: 1, maxLength: 6 }),
      (rate, cuts) => {
        const restarts = [...new Set(cuts)].sort((a, b) => a - b).map((c) => T0 + c);
        let budget = new RateBudget([rate]);
        const times: number[] = [];
        let from = T0;
        for (const at of [...restarts, T0 + 4 * MINUTE]) {
          times.push(...sendAll(budget, from, at));
          // A restart: a new budget continues from the old one's state, through JSON.
          const saved = viaJson(budget.save()) as ReturnType<RateBudget["save"]>;
          budget = new RateBudget([rate]);
          budget.restore(saved, at);
          from = at;
        }
        assert.ok(busiestWindow(times, rate.perMs) <= rate.count + rate.burst - 1);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("RateBudget: without a restore, every restart adds a burst to the window", () => {
  const rate = { count: 100, perMs: MINUTE, burst: 20 } satisfies Rate;
  const times: number[] = [];
  let from = T0;
  for (const at of [T0 + 20 * SECOND, T0 + 40 * SECOND, T0 + MINUTE]) {
    times.push(...sendAll(new RateBudget([rate]), from, at));
    from = at;
  }
  const busiest = busiestWindow(times, MINUTE);
  assert.ok(busiest > rate.count + rate.burst - 1, `${busiest} in one minute`);
});

const aimdConfig: AimdConfig = { ...DEFAULT_AIMD_CONFIG, initial: 2, max: 8 };

function limits(rates: readonly Rate[], config = aimdConfig): DestinationLimits {
  const r = new RateBudget(rates);
  return {
    rates: r,
    adaptive: new AdaptiveBudget(r),
    connections: new RateBudget([{ count: 10, perMs: MINUTE }]),
    concurrency: new Aimd(config),
  };
}

Deno.test("saveLimits() is plain JSON and parseDestinationState() reads it back as it was", async () => {
  const clock = new FakeClock(T0);
  const l = limits([{ count: 10, perMs: SECOND, burst: 5 }]);
  const fresh = saveLimits(l);
  assert.deepEqual(parseDestinationState(viaJson(fresh)), fresh, "never used: nulls, no Infinity");
  for (let i = 0; i < 5; i++) l.adaptive.tryTake(clock.now());
  l.connections!.tryTake(clock.now());
  for (let i = 0; i < 10; i++) l.concurrency.success(clock.now());
  await clock.advance(2 * SECOND);
  l.adaptive.slowDown(clock.now());
  l.concurrency.throttled(clock.now());
  const saved = saveLimits(l);
  assert.equal(saved.version, DESTINATION_STATE_VERSION);
  assert.deepEqual(parseDestinationState(viaJson(saved)), saved);
});

Deno.test("parseDestinationState() refuses another version or a malformed record", () => {
  const good = viaJson(saveLimits(limits([{ count: 1, perMs: SECOND }]))) as Record<
    string,
    unknown
  >;
  assert.ok(parseDestinationState(good));
  for (
    const bad of [
      null,
      "x",
      [],
      { ...good, version: 2 },
      { ...good, rates: [{ count: 1, perMs: "1s", tat: null }] },
      { ...good, concurrency: { kind: "open", limit: 0, strikes: 0 } },
      { ...good, concurrency: { kind: "sleeping", strikes: 0 } },
      { ...good, adaptiveRate: { ...(good.adaptiveRate as object), limit: { perSecond: -1 } } },
    ]
  ) assert.equal(parseDestinationState(bad), undefined, JSON.stringify(bad));
});

Deno.test("restoreLimits(): a cut adaptive rate and connection limit go on where they were", async () => {
  const clock = new FakeClock(T0);
  const rates: Rate[] = [{ count: 100, perMs: SECOND, burst: 100 }];
  const before = limits(rates);
  // 40 messages in the last second, then the receiver says "slow down".
  for (let i = 0; i < 40; i++) assert.ok(before.adaptive.tryTake(clock.now() + i * 25).ok);
  await clock.advance(SECOND);
  before.adaptive.slowDown(clock.now());
  for (let i = 0; i < 10; i++) before.concurrency.success(clock.now());
  before.concurrency.throttled(clock.now());
  assert.equal(before.adaptive.limit, 20, "half of the 40/s sent");
  assert.equal(before.concurrency.limit(clock.now()), 1, "2 halved");
  const saved = parseDestinationState(viaJson(saveLimits(before)))!;

  await clock.advance(200);
  const after = limits(rates);
  restoreLimits(after, saved, clock.now());
  assert.equal(after.adaptive.limit, 20);
  assert.equal(after.concurrency.limit(clock.now()), 1);
  // The next cell keeps the new spacing (50 ms at 20/s) from the last one sent, as in memory.
  assert.equal(
    after.adaptive.available(clock.now(), { withinMs: SECOND }),
    before.adaptive.available(clock.now(), { withinMs: SECOND }),
  );
  // And recovery goes on from the saved times: one step per second with a success.
  await clock.advance(SECOND);
  after.adaptive.success(clock.now());
  assert.equal(after.adaptive.limit, 22);
  // Without the restore, the actor would start free, at the configured 100/s.
  assert.equal(limits(rates).adaptive.limit, undefined);
});

Deno.test("restoreLimits(): an unreachable destination stays unreachable until its deadline, then probes", async () => {
  const clock = new FakeClock(T0);
  const before = limits([]);
  for (let i = 0; i < aimdConfig.unreachableAfter; i++) {
    before.concurrency.connectFailed(clock.now());
  }
  const until = before.concurrency.unreachableUntil(clock.now());
  assert.equal(until, T0 + aimdConfig.unreachableMs);
  const saved = parseDestinationState(viaJson(saveLimits(before)))!;

  await clock.advance(10 * SECOND);
  const after = limits([]);
  restoreLimits(after, saved, clock.now());
  assert.equal(after.concurrency.limit(clock.now()), 0);
  assert.equal(after.concurrency.unreachableUntil(clock.now()), until);
  await clock.advance(aimdConfig.unreachableMs);
  assert.equal(after.concurrency.limit(clock.now()), 1, "one probe once the period is over");
});

Deno.test("restoreLimits(): a saved connection limit above the policy's new maximum comes down to it", () => {
  const clock = new FakeClock(T0);
  const before = limits([], { ...aimdConfig, increaseIntervalMs: 0, successesPerStep: 1 });
  for (let i = 0; i < 10; i++) before.concurrency.success(clock.now());
  assert.equal(before.concurrency.limit(clock.now()), 8);
  const after = limits([], { ...aimdConfig, max: 3 });
  restoreLimits(after, saveLimits(before), clock.now());
  assert.equal(after.concurrency.limit(clock.now()), 3);
});
