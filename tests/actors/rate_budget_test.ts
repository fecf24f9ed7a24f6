import assert from "node:assert/strict";
import fc from "fast-check";
import { type Rate, RateBudget } from "../../actors/rate_budget.ts";

const SECOND = 1_000;
const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 1);

/** Offers a take at each arrival time; returns the times that were let through. */
function run(budget: RateBudget, arrivals: readonly number[]): number[] {
  const accepted: number[] = [];
  for (const t of arrivals) if (budget.tryTake(t).ok) accepted.push(t);
  return accepted;
}

/** Takes greedily, each at the earliest time the budget allows, `n` times. */
function greedy(budget: RateBudget, from: number, n: number): number[] {
  const times: number[] = [];
  let t = from;
  for (let i = 0; i < n; i++) {
    const r = budget.tryTake(t);
    if (!r.ok) {
      t = r.retryAt;
      assert.ok(budget.tryTake(t).ok, `a take at retryAt ${t} must pass`);
    }
    times.push(t - from);
  }
  return times;
}

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

const arrivalsArb = (maxGap: number) =>
  fc.array(fc.integer({ min: 0, max: maxGap }), { minLength: 50, maxLength: 1500, size: "max" })
    .map((gaps) => {
      let t = T0;
      return gaps.map((g) => (t += g));
    });

Deno.test("RateBudget.tryTake() never lets more than 10 through in any 1 s window at 10/s", () => {
  fc.assert(
    fc.property(arrivalsArb(250), (arrivals) => {
      const accepted = run(new RateBudget([{ count: 10, perMs: SECOND }]), arrivals);
      assert.ok(busiestWindow(accepted, SECOND) <= 10);
    }),
    { numRuns: 200 },
  );
});

Deno.test("RateBudget.tryTake() holds the window against a sender retrying right at retryAt", () => {
  // The adversary of the 1 ms booking slack: each step waits a little, and when refused comes
  // back at retryAt plus 0, 1 or 2 ms (exactly on time, or just late).
  const stepArb = fc.tuple(fc.integer({ min: 0, max: 120 }), fc.integer({ min: 0, max: 2 }));
  const rateArb = fc.record({
    count: fc.integer({ min: 1, max: 12 }),
    perMs: fc.constantFrom(SECOND, 700, 3 * SECOND),
    burst: fc.integer({ min: 1, max: 3 }),
  });
  fc.assert(
    fc.property(
      rateArb,
      fc.array(stepArb, { minLength: 50, maxLength: 800, size: "max" }),
      (rate, steps) => {
        const budget = new RateBudget([rate]);
        const accepted: number[] = [];
        let t = T0;
        for (const [gap, late] of steps) {
          t += gap;
          const r = budget.tryTake(t);
          if (!r.ok) {
            t = r.retryAt + late;
            assert.ok(budget.tryTake(t).ok);
          }
          accepted.push(t);
        }
        assert.ok(busiestWindow(accepted, rate.perMs) <= rate.count + rate.burst - 1);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("RateBudget.tryTake() keeps every rate's window bound of count + burst - 1", () => {
  const rateArb = fc.record({
    count: fc.integer({ min: 1, max: 30 }),
    perMs: fc.constantFrom(SECOND, 2 * SECOND, MINUTE / 10),
    burst: fc.integer({ min: 1, max: 8 }),
  });
  fc.assert(
    fc.property(
      fc.array(rateArb, { minLength: 1, maxLength: 3 }),
      arrivalsArb(400),
      (rates, ts) => {
        const accepted = run(new RateBudget(rates), ts);
        for (const r of rates) assert.ok(busiestWindow(accepted, r.perMs) <= r.count + r.burst - 1);
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("RateBudget.tryTake() lets a saturating sender through at the full rate", () => {
  // Arrivals every 10 ms for a minute against 10/s: exactly one every 100 ms passes.
  const arrivals = Array.from({ length: 6000 }, (_, i) => T0 + i * 10);
  const accepted = run(new RateBudget([{ count: 10, perMs: SECOND }]), arrivals);
  assert.equal(accepted.length, 600);
  assert.ok(accepted.every((t, i) => t === T0 + i * 100));
});

Deno.test("RateBudget.tryTake() gives a retryAt at which the take passes and before which it does not", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          count: fc.integer({ min: 1, max: 20 }),
          perMs: fc.integer({ min: 100, max: 100_000 }),
          burst: fc.integer({ min: 1, max: 5 }),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      arrivalsArb(300),
      (rates, arrivals) => {
        const budget = new RateBudget(rates);
        for (const t of arrivals) {
          const r = budget.tryTake(t);
          if (r.ok) continue;
          assert.ok(Number.isInteger(r.retryAt) && r.retryAt > t);
          assert.equal(budget.whenAvailable(r.retryAt - 1), r.retryAt, "not a ms earlier");
          assert.equal(budget.whenAvailable(t), r.retryAt, "whenAvailable agrees");
        }
        // Then prove the last answer right by taking at it.
        const last = arrivals.at(-1)! + 1;
        const r = budget.tryTake(last);
        if (!r.ok) assert.ok(budget.tryTake(r.retryAt).ok);
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("RateBudget.tryTake() spaces a fractional interval without spurious 1 ms delays", () => {
  // 3/s: cells every 333.33 ms; whole-ms retry times are the ceilings, exact at each second.
  const times = greedy(new RateBudget([{ count: 3, perMs: SECOND }]), T0, 181);
  assert.deepEqual(
    times,
    Array.from({ length: 181 }, (_, k) => Math.ceil(k * 1000 / 3 - 1e-9) || 0),
  );
  assert.equal(times.at(-1), 60_000);
});

Deno.test("RateBudget.tryTake() lets a burst through back to back, then spaces cells", () => {
  const budget = new RateBudget([{ count: 10, perMs: SECOND, burst: 5 }]);
  for (let i = 0; i < 5; i++) assert.deepEqual(budget.tryTake(T0), { ok: true });
  assert.deepEqual(budget.tryTake(T0), { ok: false, retryAt: T0 + 100 });
  assert.deepEqual(budget.tryTake(T0 + 99), { ok: false, retryAt: T0 + 100 });
  assert.deepEqual(budget.tryTake(T0 + 100), { ok: true });
  // After a quiet spell of burst * interval the whole burst is back, and no more.
  const later = T0 + 100 + 500;
  assert.equal(budget.available(later), 5);
  for (let i = 0; i < 5; i++) assert.ok(budget.tryTake(later).ok);
  assert.equal(budget.tryTake(later).ok, false);
});

Deno.test("RateBudget.tryTake() with 5/s and 20/m waits for whichever rate is slower", () => {
  const budget = new RateBudget([
    { count: 5, perMs: SECOND, burst: 5 },
    { count: 20, perMs: MINUTE, burst: 20 },
  ]);
  const times = greedy(budget, T0, 23);
  assert.deepEqual(times, [
    // the per-second burst, then the per-second spacing while the minute's burst lasts...
    ...[0, 0, 0, 0, 0],
    ...Array.from({ length: 15 }, (_, i) => 200 * (i + 1)),
    // ...then the per-second spacing once more, then the minute's spacing (3 s) takes over.
    3200,
    6000,
    9000,
  ]);
});

Deno.test("RateBudget.tryTake() with 5/s and 20/m at burst 1 keeps both windows", () => {
  const budget = new RateBudget([{ count: 5, perMs: SECOND }, { count: 20, perMs: MINUTE }]);
  const arrivals = Array.from({ length: 3 * 60 * 20 }, (_, i) => T0 + i * 50);
  const accepted = run(budget, arrivals);
  assert.ok(busiestWindow(accepted, SECOND) <= 5);
  assert.ok(busiestWindow(accepted, MINUTE) <= 20);
  assert.equal(accepted.length, 60, "20 a minute for 3 minutes");
});

Deno.test("RateBudget.tryTake() takes several cells at once up to the smallest burst", () => {
  const budget = new RateBudget([{ count: 10, perMs: SECOND, burst: 4 }]);
  assert.deepEqual(budget.tryTake(T0, 3), { ok: true });
  assert.deepEqual(budget.tryTake(T0, 3), { ok: false, retryAt: T0 + 200 });
  assert.deepEqual(budget.tryTake(T0, 1), { ok: true });
  assert.throws(() => budget.tryTake(T0, 5), {
    name: "RangeError",
    message:
      "Cannot take 5 cells as 'n' must be <= the smallest burst: current smallest burst is 4",
  });
  assert.throws(() => budget.tryTake(T0, 0), RangeError);
  assert.throws(() => budget.tryTake(T0, 1.5), RangeError);
});

Deno.test("RateBudget.tryTake() handles a clock that steps backwards without over-sending", () => {
  const budget = new RateBudget([{ count: 1, perMs: SECOND }]);
  assert.ok(budget.tryTake(T0).ok);
  assert.deepEqual(budget.tryTake(T0 - 5_000), { ok: false, retryAt: T0 + 1000 });
});

Deno.test("RateBudget with no rates is unlimited", () => {
  const budget = new RateBudget([]);
  for (let i = 0; i < 1000; i++) assert.ok(budget.tryTake(T0, 50).ok);
  assert.equal(budget.available(T0), 1000);
  assert.equal(budget.available(T0, { max: 7 }), 7);
  assert.equal(budget.whenAvailable(T0), T0);
  assert.deepEqual(budget.snapshot(T0), { available: 1000, nextFreeAt: T0, rates: [] });
});

Deno.test("RateBudget.available() counts what can go now and within a horizon", () => {
  const budget = new RateBudget([{ count: 10, perMs: SECOND }]);
  assert.equal(budget.available(T0), 1);
  assert.equal(budget.available(T0, { withinMs: 5_000 }), 51, "0, 100, ... 5000 inclusive");
  assert.equal(budget.available(T0, { withinMs: 5_000, max: 20 }), 20);
  assert.ok(budget.tryTake(T0).ok);
  assert.equal(budget.available(T0), 0);
  assert.equal(budget.available(T0, { withinMs: 99 }), 0);
  assert.equal(budget.available(T0, { withinMs: 100 }), 1);
});

Deno.test("RateBudget.available() matches what greedy takes achieve by the horizon", () => {
  const rateArb = fc.record({
    count: fc.integer({ min: 1, max: 50 }),
    perMs: fc.constantFrom(SECOND, 10 * SECOND, MINUTE),
    burst: fc.integer({ min: 1, max: 10 }),
  });
  fc.assert(
    fc.property(
      fc.array(rateArb, { minLength: 1, maxLength: 3 }),
      arrivalsArb(200),
      fc.integer({ min: 0, max: 20_000 }),
      (rates, arrivals, withinMs) => {
        const a = new RateBudget(rates);
        const b = new RateBudget(rates);
        run(a, arrivals);
        run(b, arrivals);
        const now = arrivals.at(-1)! + 1;
        const predicted = a.available(now, { withinMs, max: 200 });
        let taken = 0;
        let t = now;
        while (taken < 200) {
          const at = b.whenAvailable(t);
          if (at > now + withinMs) break;
          t = at;
          assert.ok(b.tryTake(t).ok);
          taken++;
        }
        // Whole-ms retry times can only lose a cell against the exact count, never gain one.
        assert.ok(predicted - taken >= 0 && predicted - taken <= 1, `${predicted} vs ${taken}`);
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("RateBudget.snapshot() shows each rate's tokens and next free time", () => {
  const budget = new RateBudget([
    { count: 10, perMs: SECOND, burst: 5 },
    { count: 100, perMs: MINUTE },
  ]);
  for (let i = 0; i < 3; i++) budget.tryTake(T0 + i * 1000);
  // Per-second: idle enough to hold its full burst of 5. Per-minute: 600 ms spacing, one
  // cell taken at T0 + 2000, so the next is free at T0 + 2600.
  assert.deepEqual(budget.snapshot(T0 + 2000), {
    available: 0,
    nextFreeAt: T0 + 2600,
    rates: [
      { count: 10, perMs: SECOND, burst: 5, available: 4, nextFreeAt: T0 + 2000 },
      { count: 100, perMs: MINUTE, burst: 1, available: 0, nextFreeAt: T0 + 2600 },
    ],
  });
  assert.deepEqual(budget.rates, [
    { count: 10, perMs: SECOND, burst: 5 },
    { count: 100, perMs: MINUTE },
  ]);
});

Deno.test("RateBudget() refuses rates that cannot be enforced", () => {
  const bad: [Rate, string][] = [
    [{ count: 0, perMs: SECOND }, "Cannot use rate 0 as 'count' must be > 0: current value is 0"],
    [{ count: 1, perMs: -1 }, "Cannot use rate 0 as 'perMs' must be > 0: current value is -1"],
    [
      { count: 1, perMs: SECOND, burst: 0.5 },
      "Cannot use rate 0 as 'burst' must be an integer >= 1: current value is 0.5",
    ],
    [
      { count: NaN, perMs: SECOND },
      "Cannot use rate 0 as 'count' must be > 0: current value is NaN",
    ],
  ];
  for (const [rate, message] of bad) {
    assert.throws(() => new RateBudget([rate]), { name: "RangeError", message });
  }
});
