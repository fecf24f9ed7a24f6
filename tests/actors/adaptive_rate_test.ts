import assert from "node:assert/strict";
import fc from "fast-check";
import {
  AdaptiveBudget,
  type AdaptiveRateConfig,
  type AdaptiveRateState,
  DEFAULT_ADAPTIVE_RATE_CONFIG,
  initialAdaptiveRate,
  limitPerSecond,
  measuredPerSecond,
  transition,
} from "../../actors/adaptive_rate.ts";
import { RateBudget } from "../../actors/rate_budget.ts";

const T0 = Date.UTC(2026, 0, 1); // a multiple of the 1 s window
const SECOND = 1_000;
const config: AdaptiveRateConfig = DEFAULT_ADAPTIVE_RATE_CONFIG;

/** `n` cells taken evenly over [from, from + spanMs). */
function taken(s: AdaptiveRateState, from: number, n: number, spanMs: number): AdaptiveRateState {
  for (let i = 0; i < n; i++) {
    s = transition(s, { kind: "taken", n: 1 }, from + Math.floor((i * spanMs) / n), config);
  }
  return s;
}

Deno.test("adaptive rate: the meter estimates the last second's rate from two windows", () => {
  let s = taken(initialAdaptiveRate(), T0, 20, SECOND); // 20 in [T0, T0 + 1 s)
  assert.equal(measuredPerSecond(s.meter, T0 + 999, config), 20);
  // Half-way through the next window: half of the previous one still counts, plus 5 new.
  s = taken(s, T0 + SECOND, 5, 500);
  assert.equal(measuredPerSecond(s.meter, T0 + 1_500, config), 15);
  // Two windows later nothing of it is left.
  assert.equal(measuredPerSecond(s.meter, T0 + 3_000, config), 0);
});

Deno.test("adaptive rate: free until a slow-down, then half the rate sent, from where it recovers in steps", () => {
  let s = taken(initialAdaptiveRate(), T0, 20, SECOND);
  assert.equal(limitPerSecond(s), undefined, "free: only the configured rates apply");
  assert.equal(transition(s, { kind: "success" }, T0 + SECOND, config), s, "free stays free");
  s = transition(s, { kind: "slow_down" }, T0 + 999, config);
  assert.equal(s.kind, "limited");
  if (s.kind !== "limited") return;
  assert.equal(s.perSecond, 10);
  assert.equal(s.step, 1, "a tenth of the limit the cut set");
  assert.equal(s.releaseAt, 20, "the rate sent when the episode began");
  // Additive: one step per interval with a success, never two in one interval.
  const cut = T0 + 999;
  const limits: number[] = [];
  for (let t = cut + 500; t <= cut + 12_000; t += 500) {
    s = transition(s, { kind: "success" }, t, config);
    limits.push(limitPerSecond(s) ?? Infinity);
  }
  assert.deepEqual(
    limits.slice(0, 8),
    [10, 11, 11, 12, 12, 13, 13, 14],
    "one step a second, in a straight line",
  );
  assert.equal(s.kind, "free", "released once back at the rate it was cut from");
});

Deno.test("adaptive rate: slow-downs within the cooldown are one signal; later ones cut again", () => {
  let s = taken(initialAdaptiveRate(), T0, 20, SECOND);
  s = transition(s, { kind: "slow_down" }, T0 + 999, config);
  const once = s;
  s = transition(s, { kind: "slow_down" }, T0 + 999 + config.cooldownMs - 1, config);
  assert.equal(s, once, "inside the cooldown: no second cut");
  // Sending at the limit (10/s) for two more seconds, then throttled again: half of 10.
  s = taken(s, T0 + SECOND, 10, SECOND);
  s = taken(s, T0 + 2 * SECOND, 10, SECOND);
  s = transition(s, { kind: "slow_down" }, T0 + 3 * SECOND - 1, config);
  assert.equal(limitPerSecond(s), 5);
  assert.equal(s.kind === "limited" && s.releaseAt, 20, "the episode keeps its goal");
});

Deno.test("adaptive rate: a cut is from the rate actually sent when it is below the limit", () => {
  let s = taken(initialAdaptiveRate(), T0, 40, SECOND);
  s = transition(s, { kind: "slow_down" }, T0 + 999, config); // 20/s
  s = taken(s, T0 + 4 * SECOND, 4, SECOND); // only 4/s sent since
  s = transition(s, { kind: "slow_down" }, T0 + 5 * SECOND - 1, config);
  assert.equal(limitPerSecond(s), 2);
});

Deno.test("adaptive rate: never below the floor, whatever the cuts", () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 5_000 }), { maxLength: 40 }), (gaps) => {
    let s = taken(initialAdaptiveRate(), T0, 3, SECOND);
    let t = T0 + SECOND;
    for (const gap of gaps) {
      t += gap;
      s = transition(s, { kind: gap % 2 === 0 ? "slow_down" : "success" }, t, config);
      const limit = limitPerSecond(s);
      if (limit !== undefined && limit < config.minPerSecond) return false;
    }
    return true;
  }));
});

Deno.test("AdaptiveBudget spaces takes at the adaptive limit under the configured rates", () => {
  const budget = new AdaptiveBudget(new RateBudget([]));
  for (let i = 0; i < 8; i++) assert.ok(budget.tryTake(T0 + i * 100).ok, "free: unlimited");
  budget.slowDown(T0 + 799); // 8 sent in the last second: 4/s
  assert.equal(budget.limit, 4);
  assert.equal(budget.tryTake(T0 + 799).ok, false, "spaced from the last take, at 700");
  assert.ok(budget.tryTake(T0 + 950).ok);
  assert.deepEqual(budget.tryTake(T0 + 1_000), { ok: false, retryAt: T0 + 1_200 });
  assert.equal(budget.available(T0 + 1_000), 0);
  assert.equal(budget.available(T0 + 1_000, { withinMs: 1_000 }), 4, "1200, 1450, 1700, 1950");
  assert.ok(budget.tryTake(T0 + 1_200).ok);
  // The configured rates still apply where they are stricter.
  const strict = new AdaptiveBudget(new RateBudget([{ count: 1, perMs: SECOND }]));
  assert.ok(strict.tryTake(T0).ok);
  strict.slowDown(T0); // 1/s sent: cut to 0.5/s
  assert.equal(strict.limit, 0.5);
  assert.deepEqual(strict.tryTake(T0 + 1_000), { ok: false, retryAt: T0 + 2_000 });
  assert.ok(strict.tryTake(T0 + 2_000).ok);
  assert.equal(strict.available(T0 + 2_000, { withinMs: 2_500 }), 1, "2 s apart now");
});

Deno.test("AdaptiveBudget: a refused take under the adaptive limit leaves the configured rates untouched", () => {
  const configured = new RateBudget([{ count: 100, perMs: SECOND }]);
  const budget = new AdaptiveBudget(configured);
  assert.ok(budget.tryTake(T0).ok);
  assert.ok(budget.tryTake(T0 + 10).ok);
  budget.slowDown(T0 + 10); // 2 sent: 1/s
  const before = configured.snapshot(T0 + 30);
  assert.equal(budget.tryTake(T0 + 30).ok, false);
  assert.deepEqual(configured.snapshot(T0 + 30), before);
});

Deno.test("AdaptiveBudget recovers to free and drops its spacing", () => {
  const budget = new AdaptiveBudget(new RateBudget([]));
  assert.ok(budget.tryTake(T0).ok);
  assert.ok(budget.tryTake(T0 + 1).ok);
  budget.slowDown(T0 + 1); // 2/s sent: cut to 1/s, release at 2/s, step 0.1/s
  let t = T0 + 1;
  while (budget.limit !== undefined && t < T0 + 60 * SECOND) {
    t += SECOND;
    assert.ok(budget.tryTake(t).ok);
    budget.success(t);
  }
  assert.equal(budget.limit, undefined, `free again after ${(t - T0) / SECOND} s`);
  assert.ok(budget.tryTake(t).ok && budget.tryTake(t).ok, "no spacing once free");
});
