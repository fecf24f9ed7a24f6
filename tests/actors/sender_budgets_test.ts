/**
 * SenderBudgets on made-up times, over an in-memory store that hands out ranges of a shared
 * timeline as the PostgreSQL one does (db/sender_budgets.ts; its own test runs it on a database).
 */
import assert from "node:assert/strict";
import {
  type ReservedRange,
  SenderBudgets,
  type SenderBudgetStore,
} from "../../actors/sender_budgets.ts";
import type { Rate } from "../../actors/rate_budget.ts";

const T0 = Date.UTC(2030, 0, 1);

/** One shared TAT per key and rate; `reserve` resolves when the test says (`land`). */
class MemoryStore implements SenderBudgetStore {
  readonly tats = new Map<string, number>();
  readonly pending: (() => void)[] = [];
  calls = 0;
  fail = false;

  reserve(key: string, rates: readonly Rate[], cells: number, now: number) {
    this.calls++;
    return new Promise<readonly ReservedRange[]>((resolve, reject) => {
      this.pending.push(() => {
        if (this.fail) return reject(new Error("store away"));
        resolve(rates.map((r, i) => {
          const k = `${key}/${i}`;
          const start = Math.max(this.tats.get(k) ?? -Infinity, now);
          const end = start + cells * r.perMs / r.count;
          this.tats.set(k, end);
          return { start, end };
        }));
      });
    });
  }

  /** Lets every pending reservation complete, and their listeners run. */
  async land(): Promise<void> {
    for (const p of this.pending.splice(0)) p();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
}

Deno.test("SenderBudgets.take() lets an unknown sender through and a known one wait for its range", async () => {
  const store = new MemoryStore();
  const b = new SenderBudgets({ "noisy.example": { rates: [{ count: 10, perMs: 1000 }] } }, store);
  assert.deepEqual(b.take("other.example", T0, 3), { ok: true, n: 3 });
  let told = 0;
  b.onChange(() => told++);
  const first = b.take("noisy.example", T0, 1);
  assert.equal(first.ok, false, "nothing reserved yet");
  assert.equal(store.calls, 1);
  assert.equal(b.take("noisy.example", T0, 1).ok, false);
  assert.equal(store.calls, 1, "one reservation at a time");
  await store.land();
  assert.equal(told, 1, "the waiting actors are told once the range landed");
  assert.deepEqual(b.take("noisy.example", T0, 1), { ok: true, n: 1 });
  // Burst 1: the next cell is due one spacing later, and it says so.
  assert.deepEqual(b.take("noisy.example", T0 + 50, 1), {
    ok: false,
    retryAt: T0 + 100,
    spacingMs: 100,
    reason: "rate",
  });
  assert.deepEqual(b.take("noisy.example", T0 + 100, 1), { ok: true, n: 1 });
});

Deno.test("SenderBudgets: two instances on one store never exceed the rate in any window", async () => {
  const store = new MemoryStore();
  const limits = { "noisy.example": { rates: [{ count: 10, perMs: 1000 }] } };
  const a = new SenderBudgets(limits, store);
  const b = new SenderBudgets(limits, store);
  const sent: number[] = [];
  // Both ask every 7 ms for 20 s, each as eager as it can be.
  for (let t = T0; t < T0 + 20_000; t += 7) {
    for (const x of [a, b]) {
      const r = x.take("noisy.example", t, 1);
      if (r.ok) {
        sent.push(t);
        x.done("noisy.example");
      }
    }
    await store.land();
  }
  let worst = 0;
  for (const t of sent) worst = Math.max(worst, sent.filter((u) => u >= t && u < t + 1000).length);
  assert.ok(worst <= 10, `${worst} in one second`);
  // The slack is on the safe side: a range's tail too short for a late cell is lost when the
  // next range went to the other instance (here about one cell in five, asking every 7 ms).
  assert.ok(sent.length >= 150, `the rate is mostly used: ${sent.length} in 20 s`);
});

Deno.test("SenderBudgets: one instance on its own uses its whole rate", async () => {
  const store = new MemoryStore();
  const a = new SenderBudgets({ "noisy.example": { rates: [{ count: 10, perMs: 1000 }] } }, store);
  let sent = 0;
  for (let t = T0; t < T0 + 20_000; t += 7) {
    if (a.take("noisy.example", t, 1).ok) sent++;
    await store.land();
  }
  // Asking every 7 ms, each cell goes up to 6 ms late, as with any GCRA booked at its take.
  assert.ok(sent >= 185, `${sent} in 20 s`);
});

Deno.test("SenderBudgets.take() holds a sender to its transaction cap, freed by done()", async () => {
  const store = new MemoryStore();
  const b = new SenderBudgets({ "busy.example": { rates: [], maxConnections: 2 } }, store);
  let told = 0;
  b.onChange(() => told++);
  assert.deepEqual(b.take("busy.example", T0, 5), { ok: true, n: 5 });
  assert.deepEqual(b.take("busy.example", T0, 1), { ok: true, n: 1 });
  const third = b.take("busy.example", T0, 1);
  assert.equal(third.ok, false);
  assert.equal(!third.ok && third.reason, "connections");
  b.done("busy.example");
  assert.equal(told, 1, "a freed slot wakes the waiting");
  assert.deepEqual(b.take("busy.example", T0, 1), { ok: true, n: 1 });
  assert.equal(store.calls, 0, "no rate: the store is never asked");
  await store.land();
  assert.equal(b.snapshot(T0)[0]!.inFlight, 2);
  assert.equal(b.snapshot(T0)[0]!.waits, 1);
});

Deno.test("SenderBudgets.untake() gives back what the destination's budget then refused", async () => {
  const store = new MemoryStore();
  const b = new SenderBudgets({
    "noisy.example": { rates: [{ count: 10, perMs: 1000, burst: 3 }], maxConnections: 1 },
  }, store);
  b.take("noisy.example", T0, 1);
  await store.land();
  assert.deepEqual(b.take("noisy.example", T0, 3), { ok: true, n: 3 });
  b.untake("noisy.example", 3);
  assert.deepEqual(b.take("noisy.example", T0, 3), { ok: true, n: 3 }, "the cells and the slot");
});

Deno.test("SenderBudgets: a failed reservation is retried later, not at every ask", async () => {
  const store = new MemoryStore();
  store.fail = true;
  const b = new SenderBudgets({ "noisy.example": { rates: [{ count: 10, perMs: 1000 }] } }, store, {
    retryMs: 1_000,
  });
  b.take("noisy.example", T0, 1);
  await store.land();
  const r = b.take("noisy.example", T0 + 10, 1);
  assert.deepEqual(r, { ok: false, retryAt: T0 + 1_010, spacingMs: 100, reason: "rate" });
  assert.equal(store.calls, 1, "no new reservation before the pause is over");
  store.fail = false;
  b.take("noisy.example", T0 + 1_000, 1);
  assert.equal(store.calls, 2);
  await store.land();
  assert.equal(b.take("noisy.example", T0 + 1_000, 1).ok, true);
});
