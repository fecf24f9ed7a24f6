import assert from "node:assert/strict";
import fc from "fast-check";
import {
  baseRetryDelay,
  DEFAULT_RECONNECT_POLICY,
  DEFAULT_RETRY_POLICY,
  nextRetryDelay,
  planRetry,
  reconnectBackoff,
  type RetryPolicy,
} from "../../actors/backoff.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.UTC(2026, 0, 1);
const fixed = (r: number) => () => r;
const noJitter: RetryPolicy = { ...DEFAULT_RETRY_POLICY, jitter: 0 };

Deno.test("nextRetryDelay() follows the default schedule: 5 min, doubling, capped at 1 h", () => {
  const attempts = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.deepEqual(
    attempts.map((a) => nextRetryDelay(a, noJitter, fixed(0.7)) / MINUTE),
    [5, 10, 20, 40, 60, 60, 60, 60, 60, 60],
  );
});

Deno.test("nextRetryDelay() jitters the default schedule downwards by up to 10 %", () => {
  const attempts = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const table = (r: number) =>
    attempts.map((a) => nextRetryDelay(a, DEFAULT_RETRY_POLICY, fixed(r)) / MINUTE);
  assert.deepEqual(table(0), [5, 10, 20, 40, 60, 60, 60, 60, 60, 60], "r = 0: nominal");
  assert.deepEqual(table(0.5), [4.75, 9.5, 19, 38, 57, 57, 57, 57, 57, 57], "r = 0.5: -5 %");
  assert.deepEqual(table(1), [4.5, 9, 18, 36, 54, 54, 54, 54, 54, 54], "r = 1: -10 %");
});

Deno.test("nextRetryDelay() stays within [base * (1 - jitter), base], in whole ms", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 100 }),
      fc.record({
        first: fc.integer({ min: 1, max: HOUR }),
        factor: fc.double({ min: 1, max: 4, noNaN: true }),
        extra: fc.integer({ min: 0, max: 10 * HOUR }),
        jitter: fc.double({ min: 0, max: 0.99, noNaN: true }),
      }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (attempt, { first, factor, extra, jitter }, r) => {
        const policy = { first, factor, max: first + extra, jitter };
        const base = baseRetryDelay(attempt, policy);
        const delay = nextRetryDelay(attempt, policy, fixed(r));
        assert.ok(Number.isInteger(delay));
        assert.ok(base <= policy.max);
        assert.ok(delay <= Math.round(base) && delay >= Math.round(base * (1 - jitter)) - 1);
      },
    ),
  );
});

Deno.test("nextRetryDelay() uses a custom policy and survives huge attempt counts", () => {
  const policy = { first: MINUTE, factor: 3, max: 30 * MINUTE, jitter: 0 };
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((a) => nextRetryDelay(a, policy, fixed(0)) / MINUTE),
    [1, 3, 9, 27, 30],
  );
  assert.equal(nextRetryDelay(1_000_000, policy, fixed(0)), 30 * MINUTE);
  const constant = { first: MINUTE, factor: 1, max: MINUTE, jitter: 0 };
  assert.equal(nextRetryDelay(50, constant, fixed(0)), MINUTE);
});

Deno.test("nextRetryDelay() refuses a bad attempt or policy with a precise message", () => {
  assert.throws(() => nextRetryDelay(0, noJitter, fixed(0)), {
    name: "RangeError",
    message:
      "Cannot compute a retry delay as 'attempt' must be an integer >= 1: current value is 0",
  });
  const cases: [Partial<RetryPolicy>, string][] = [
    [{ first: 0 }, "'first' must be > 0: current value is 0"],
    [{ factor: 0.5 }, "'factor' must be >= 1: current value is 0.5"],
    [{ max: 1000 }, "'max' must be >= 'first': current values are 1000 and 300000"],
    [{ jitter: 1 }, "'jitter' must be in [0, 1): current value is 1"],
  ];
  for (const [patch, problem] of cases) {
    assert.throws(() => nextRetryDelay(1, { ...DEFAULT_RETRY_POLICY, ...patch }, fixed(0)), {
      name: "RangeError",
      message: `Cannot use retry policy as ${problem}`,
    });
  }
});

Deno.test("planRetry() schedules the next attempt from now", () => {
  const plan = planRetry({ attempts: 3, now: T0, expiresAt: T0 + 5 * 24 * HOUR, random: fixed(0) });
  assert.deepEqual(plan, { kind: "retry", at: T0 + 20 * MINUTE, delayMs: 20 * MINUTE });
});

Deno.test("planRetry() honours a server's retry hint as a lower bound", () => {
  const base = { attempts: 1, now: T0, expiresAt: T0 + 24 * HOUR, random: fixed(0) };
  assert.deepEqual(planRetry({ ...base, hintMs: 2 * HOUR }), {
    kind: "retry",
    at: T0 + 2 * HOUR,
    delayMs: 2 * HOUR,
  });
  // A hint shorter than the schedule does not bring the retry forward.
  assert.deepEqual(planRetry({ ...base, hintMs: MINUTE }), {
    kind: "retry",
    at: T0 + 5 * MINUTE,
    delayMs: 5 * MINUTE,
  });
  assert.deepEqual(planRetry({ ...base, hintMs: 0 }), planRetry(base));
});

Deno.test("planRetry() expires at once when the next attempt would be at or past expiresAt", () => {
  const base = { attempts: 5, now: T0, random: fixed(0), policy: noJitter };
  assert.deepEqual(planRetry({ ...base, expiresAt: T0 + HOUR }), {
    kind: "expire",
    wouldRetryAt: T0 + HOUR,
  });
  assert.deepEqual(planRetry({ ...base, expiresAt: T0 + HOUR + 1 }), {
    kind: "retry",
    at: T0 + HOUR,
    delayMs: HOUR,
  });
  // A hint pushing past the expiry expires too: retrying sooner is known to fail.
  assert.equal(
    planRetry({ ...base, attempts: 1, expiresAt: T0 + HOUR, hintMs: 2 * HOUR }).kind,
    "expire",
  );
  assert.equal(planRetry({ ...base, expiresAt: T0 - 1 }).kind, "expire");
});

Deno.test("planRetry() walks a delivery from first failure to expiry over 5 days", () => {
  // With the default policy and no jitter: 5+10+20+40 minutes, then hourly until 5 days.
  const expiresAt = T0 + 5 * 24 * HOUR;
  let now = T0;
  let attempts = 1;
  const delays: number[] = [];
  for (; attempts < 1000; attempts++) {
    const plan = planRetry({ attempts, now, expiresAt, random: fixed(0), policy: noJitter });
    if (plan.kind === "expire") break;
    delays.push(plan.delayMs / MINUTE);
    now = plan.at;
  }
  assert.deepEqual(delays.slice(0, 6), [5, 10, 20, 40, 60, 60]);
  // 75 min for the first four retries, then whole hours: the last retry before 120 h is at
  // 119 h 15 min, and the one after would be at 120 h 15 min.
  assert.equal(delays.length, 4 + 118);
  assert.equal(now, T0 + 119 * HOUR + 15 * MINUTE);
});

Deno.test("reconnectBackoff() pauses 0.5 s, doubling to a 30 s cap, with no jitter", () => {
  const failures = [1, 2, 3, 4, 5, 6, 7, 8, 20];
  assert.deepEqual(
    failures.map((n) => reconnectBackoff(n)),
    [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000],
  );
  assert.equal(reconnectBackoff(0), 500, "no failure counted yet still pauses");
  assert.equal(reconnectBackoff(1_000_000), DEFAULT_RECONNECT_POLICY.max);
});

Deno.test("reconnectBackoff() keeps the pauses the domain actor had before the policy was named", () => {
  const before = (n: number) => Math.min(30_000, 500 * 2 ** Math.min(Math.max(n, 1) - 1, 10));
  for (let n = 0; n <= 64; n++) assert.equal(reconnectBackoff(n), before(n), `failures = ${n}`);
});

Deno.test("reconnectBackoff() follows a custom policy and refuses a bad one", () => {
  const policy = { first: 100, factor: 3, max: 1000 };
  assert.deepEqual([1, 2, 3, 4].map((n) => reconnectBackoff(n, policy)), [100, 300, 900, 1000]);
  assert.throws(() => reconnectBackoff(1, { ...policy, max: 50 }), {
    name: "RangeError",
    message: "Cannot use retry policy as 'max' must be >= 'first': current values are 50 and 100",
  });
  assert.throws(() => reconnectBackoff(1.5), { name: "RangeError" });
});
