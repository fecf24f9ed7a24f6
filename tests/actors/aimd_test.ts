import assert from "node:assert/strict";
import fc from "fast-check";
import {
  Aimd,
  type AimdConfig,
  type AimdEvent,
  type AimdState,
  DEFAULT_AIMD_CONFIG,
  initialAimdState,
  limitOf,
  transition,
} from "../../actors/aimd.ts";

const T0 = Date.UTC(2026, 0, 1);
const SECOND = 1_000;
const MINUTE = 60_000;

const config: AimdConfig = {
  ...DEFAULT_AIMD_CONFIG,
  initial: 2,
  max: 8,
  successesPerStep: 3,
  increaseIntervalMs: SECOND,
  cooldownMs: 5 * SECOND,
  unreachableAfter: 3,
  unreachableMs: MINUTE,
  unreachableMaxMs: 5 * MINUTE,
};

const success: AimdEvent = { kind: "success" };
const throttled: AimdEvent = { kind: "throttled" };
const failed: AimdEvent = { kind: "connect_failed" };
const connected: AimdEvent = { kind: "connected" };

/** Feeds `n` successes, `gapMs` apart from `from`; returns the limit after each. */
function successes(aimd: Aimd, from: number, n: number, gapMs: number): number[] {
  return Array.from({ length: n }, (_, i) => aimd.record(success, from + i * gapMs));
}

/** Grows a fresh holder to `limit` with successes a second apart; returns the next free time. */
function grownTo(limit: number): [Aimd, number] {
  const aimd = new Aimd(config);
  let t = T0;
  while (aimd.limit(t) < limit) {
    aimd.success(t);
    t += SECOND;
  }
  return [aimd, t];
}

Deno.test("Aimd starts at the initial limit, clamped to max", () => {
  assert.equal(new Aimd(config).limit(T0), 2);
  assert.equal(new Aimd({ ...config, initial: 20 }).limit(T0), 8);
  assert.deepEqual(new Aimd(config).snapshot(T0), {
    state: "open",
    limit: 2,
    max: 8,
    failures: 0,
    strikes: 0,
    unreachableUntil: null,
  });
});

Deno.test("Aimd.record() adds one connection per successesPerStep successes", () => {
  const aimd = new Aimd(config);
  assert.deepEqual(successes(aimd, T0, 9, SECOND), [2, 2, 3, 3, 3, 4, 4, 4, 5]);
});

Deno.test("Aimd.record() grows no faster than once per increaseIntervalMs", () => {
  const aimd = new Aimd(config);
  // Thirty successes within one millisecond earn a single step, not ten.
  assert.equal(successes(aimd, T0, 30, 0).at(-1), 3);
  assert.equal(aimd.record(success, T0 + 999), 3);
  assert.equal(aimd.record(success, T0 + SECOND), 4, "banked successes count once the pace allows");
  assert.equal(aimd.record(success, T0 + SECOND), 4, "and the bank was spent");
});

Deno.test("Aimd.record() stops growing at max", () => {
  const aimd = new Aimd(config);
  const limits = successes(aimd, T0, 100, SECOND);
  assert.equal(Math.max(...limits), 8);
  assert.equal(limits.at(-1), 8);
});

Deno.test("Aimd.record() halves the limit on 421 and on a failed connection", () => {
  const [aimd, t] = grownTo(8);
  assert.equal(aimd.record(throttled, t), 4);
  const [other, t2] = grownTo(7);
  assert.equal(other.record(failed, t2), 3, "floor(7 / 2)");
});

Deno.test("Aimd.record() counts a burst of failures within the cooldown as one cut", () => {
  const [aimd, t] = grownTo(8);
  const limits = [throttled, throttled, throttled, throttled].map((e, i) => aimd.record(e, t + i));
  assert.deepEqual(limits, [4, 4, 4, 4]);
  assert.equal(aimd.record(throttled, t + 4_999), 4, "still cooling down");
  assert.equal(aimd.record(throttled, t + 5_000), 2, "a new burst after the cooldown");
});

Deno.test("Aimd.record() never cuts below one connection", () => {
  const aimd = new Aimd(config);
  let t = T0;
  for (let i = 0; i < 10; i++, t += 10 * SECOND) aimd.record(throttled, t);
  assert.equal(aimd.limit(t), 1);
});

Deno.test("Aimd.record() recovers gradually after a cut instead of snapping back", () => {
  const [aimd, t] = grownTo(8);
  aimd.throttled(t);
  // Successes every 100 ms: one step needs 3 of them and a second since the last change.
  const limits = successes(aimd, t + 100, 50, 100);
  const steps = limits.map((l, i) => [l, i] as const).filter(([l], i) =>
    l !== (limits[i - 1] ?? 4)
  );
  assert.deepEqual(steps.map(([l]) => l), [5, 6, 7, 8], "one connection at a time");
  // Each step at least a second after the previous change (the cut included).
  const times = [t, ...steps.map(([, i]) => t + 100 + i * 100)];
  for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= SECOND);
});

Deno.test("Aimd marks a destination unreachable after consecutive connection failures", () => {
  const aimd = new Aimd(config);
  assert.equal(aimd.record(failed, T0), 1);
  assert.equal(aimd.record(failed, T0 + 1), 1);
  assert.equal(aimd.record(failed, T0 + 2), 0, "third failure in a row");
  assert.equal(aimd.unreachableUntil(T0 + 2), T0 + 2 + MINUTE);
  assert.deepEqual(aimd.snapshot(T0 + 10), {
    state: "unreachable",
    limit: 0,
    max: 8,
    failures: 0,
    strikes: 1,
    unreachableUntil: T0 + 2 + MINUTE,
  });
  // Late failures from connections already under way change nothing.
  assert.equal(aimd.record(failed, T0 + 20), 0);
  assert.equal(aimd.unreachableUntil(T0 + 20), T0 + 2 + MINUTE);
});

Deno.test("Aimd forgets failures once a connection gets through", () => {
  const aimd = new Aimd(config);
  aimd.connectFailed(T0);
  aimd.connectFailed(T0 + 10 * SECOND);
  aimd.connected(T0 + 11 * SECOND);
  aimd.connectFailed(T0 + 20 * SECOND);
  aimd.connectFailed(T0 + 30 * SECOND);
  assert.equal(aimd.limit(T0 + 30 * SECOND), 1, "not unreachable: never three in a row");
  // A 421 also proves the host reachable.
  aimd.throttled(T0 + 40 * SECOND);
  aimd.connectFailed(T0 + 50 * SECOND);
  assert.equal(aimd.state.kind, "open");
});

Deno.test("Aimd probes with one connection when the unreachable period ends", () => {
  const aimd = new Aimd(config);
  for (let i = 0; i < 3; i++) aimd.connectFailed(T0);
  assert.equal(aimd.limit(T0 + MINUTE - 1), 0);
  assert.equal(aimd.limit(T0 + MINUTE), 1, "the period is over: one probe");
  assert.equal(aimd.unreachableUntil(T0 + MINUTE), undefined);
  assert.equal(aimd.snapshot(T0 + MINUTE).state, "probing");
  // The probe succeeds: open again at one connection, earning the rest back.
  assert.equal(aimd.record(success, T0 + MINUTE + 5), 1);
  assert.equal(aimd.snapshot(T0 + MINUTE + 5).strikes, 0);
  assert.deepEqual(successes(aimd, T0 + 2 * MINUTE, 6, SECOND), [1, 1, 2, 2, 2, 3]);
});

Deno.test("Aimd doubles the unreachable period on each failed probe, up to the cap", () => {
  const aimd = new Aimd(config);
  let t = T0;
  for (let i = 0; i < 3; i++) aimd.connectFailed(t);
  const periods: number[] = [];
  for (let round = 0; round < 6; round++) {
    const until = aimd.unreachableUntil(t)!;
    periods.push((until - t) / MINUTE);
    t = until;
    assert.equal(aimd.limit(t), 1);
    aimd.connectFailed(t); // the probe fails: unreachable again at once
  }
  assert.deepEqual(periods, [1, 2, 4, 5, 5, 5]);
});

Deno.test("Aimd keeps the strike count across a probe that only connects", () => {
  const aimd = new Aimd(config);
  for (let i = 0; i < 3; i++) aimd.connectFailed(T0);
  const t = T0 + MINUTE;
  aimd.connected(t); // reachable, but nothing delivered yet
  for (let i = 1; i <= 3; i++) aimd.connectFailed(t + i);
  assert.equal(aimd.unreachableUntil(t + 3), t + 3 + 2 * MINUTE, "second strike: 2 minutes");
});

Deno.test("Aimd reopens on a late success that arrives while unreachable", () => {
  const aimd = new Aimd(config);
  for (let i = 0; i < 3; i++) aimd.connectFailed(T0);
  assert.equal(aimd.record(connected, T0 + 1), 0, "a connection alone does not lift the mark");
  assert.equal(aimd.record(success, T0 + 2), 1);
});

Deno.test("transition() is pure and clamps the limit to a lowered max", () => {
  const state = Object.freeze(initialAimdState({ ...config, initial: 6 })) as AimdState;
  const next = transition(state, success, T0, { ...config, max: 3 });
  assert.equal(limitOf(next, T0), 3);
  assert.equal(limitOf(state, T0), 6, "input untouched");
  assert.equal(limitOf(transition(state, throttled, T0, config), T0), 3);
});

Deno.test("transition() keeps its invariants over random event sequences", () => {
  const eventArb = fc.constantFrom<AimdEvent>(
    success,
    success,
    success,
    throttled,
    failed,
    connected,
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(eventArb, fc.integer({ min: 0, max: 20 * SECOND })), {
        maxLength: 300,
        size: "max",
      }),
      (steps) => {
        let state = initialAimdState(config);
        let t = T0;
        let lastUp = -Infinity;
        for (const [event, gap] of steps) {
          t += gap;
          const before = limitOf(state, t);
          state = transition(state, event, t, config);
          const after = limitOf(state, t);
          assert.ok(after >= 0 && after <= config.max);
          if (state.kind === "open") assert.ok(after >= 1);
          if (after > before && before >= 1) {
            assert.equal(after, before + 1, "additive increase");
            assert.equal(event.kind, "success");
            assert.ok(t - lastUp >= config.increaseIntervalMs);
            lastUp = t;
          }
          if (after < before && state.kind === "open") {
            assert.equal(after, Math.max(1, Math.floor(before / 2)), "multiplicative decrease");
            lastUp = t; // a cut also restarts the increase interval
          }
        }
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("Aimd() refuses a config it cannot run", () => {
  assert.throws(() => new Aimd({ ...config, max: 0 }), {
    name: "RangeError",
    message: "Cannot use AIMD config as 'max' must be an integer >= 1: current value is 0",
  });
  assert.throws(() => new Aimd({ ...config, decreaseFactor: 1 }), {
    name: "RangeError",
    message: "Cannot use AIMD config as 'decreaseFactor' must be in (0, 1): current value is 1",
  });
  assert.throws(() => new Aimd({ ...config, unreachableMaxMs: 1 }), RangeError);
  assert.throws(() => new Aimd({ ...config, cooldownMs: -1 }), RangeError);
});
