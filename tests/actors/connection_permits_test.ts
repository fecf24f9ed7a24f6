import assert from "node:assert/strict";
import fc from "fast-check";
import { ConnectionPermits, type Permit } from "../../actors/connection_permits.ts";

/** Lets promise callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

Deno.test("ConnectionPermits.tryAcquire() hands out up to the limit", () => {
  const permits = new ConnectionPermits(2);
  const a = permits.tryAcquire();
  const b = permits.tryAcquire();
  assert.ok(a && b);
  assert.equal(permits.tryAcquire(), undefined);
  assert.equal(permits.inUse, 2);
  a.release();
  assert.equal(permits.inUse, 1);
  assert.ok(permits.tryAcquire());
});

Deno.test("ConnectionPermits permits release at the end of a using block, even on throw", () => {
  const permits = new ConnectionPermits(1);
  {
    using permit = permits.tryAcquire();
    assert.ok(permit);
    assert.equal(permits.inUse, 1);
  }
  assert.equal(permits.inUse, 0);
  assert.throws(() => {
    using _permit = permits.tryAcquire();
    throw new Error("SMTP session broke");
  }, /SMTP session broke/);
  assert.equal(permits.inUse, 0);
});

Deno.test("ConnectionPermits permit disposed twice releases once", () => {
  const permits = new ConnectionPermits(2);
  const a = permits.tryAcquire()!;
  const b = permits.tryAcquire()!;
  a[Symbol.dispose]();
  a[Symbol.dispose]();
  a.release();
  assert.equal(a.released, true);
  assert.equal(b.released, false);
  assert.equal(permits.inUse, 1, "b is still held");
});

Deno.test("ConnectionPermits.acquire() wakes waiters in arrival order", async () => {
  const permits = new ConnectionPermits(1);
  const first = permits.tryAcquire()!;
  const order: string[] = [];
  const got = ["a", "b", "c"].map((name) =>
    permits.acquire().then((p) => {
      order.push(name);
      return p;
    })
  );
  await settle();
  assert.equal(permits.waiting, 3);
  first.release();
  const a = await got[0]!;
  assert.deepEqual(order, ["a"]);
  a.release();
  (await got[1]!).release();
  (await got[2]!).release();
  assert.deepEqual(order, ["a", "b", "c"]);
  assert.equal(permits.inUse, 0);
});

Deno.test("ConnectionPermits.tryAcquire() does not jump the queue of waiters", async () => {
  const permits = new ConnectionPermits(1);
  const held = permits.tryAcquire()!;
  const waiter = permits.acquire();
  held.release(); // handed straight to the waiter
  assert.equal(permits.tryAcquire(), undefined);
  (await waiter).release();
  assert.ok(permits.tryAcquire());
});

Deno.test("ConnectionPermits.acquire() removes an aborted waiter", async () => {
  const permits = new ConnectionPermits(1);
  const held = permits.tryAcquire()!;
  const stop = new AbortController();
  const aborted = permits.acquire(stop.signal);
  const next = permits.acquire();
  stop.abort(new Error("actor stopping"));
  await assert.rejects(aborted, /actor stopping/);
  assert.equal(permits.waiting, 1);
  held.release();
  const p = await next;
  assert.equal(permits.inUse, 1, "the aborted waiter got nothing");
  p.release();
  assert.equal(permits.inUse, 0);
});

Deno.test("ConnectionPermits.acquire() rejects at once on an aborted signal", async () => {
  const permits = new ConnectionPermits(1);
  await assert.rejects(permits.acquire(AbortSignal.abort(new Error("gone"))), /gone/);
  assert.equal(permits.inUse, 0);
  assert.equal(permits.waiting, 0);
});

Deno.test("ConnectionPermits lowering the limit lets holders finish and blocks newcomers", async () => {
  const permits = new ConnectionPermits(4);
  const held = [0, 1, 2, 3].map(() => permits.tryAcquire()!);
  permits.limit = 2;
  assert.equal(permits.inUse, 4, "nobody is cut off");
  let granted = false;
  const waiter = permits.acquire().then((p) => {
    granted = true;
    return p;
  });
  held[0]!.release();
  held[1]!.release();
  await settle();
  assert.equal(granted, false, "in use 2 of 2");
  held[2]!.release();
  const p = await waiter;
  assert.equal(permits.inUse, 2);
  p.release();
  held[3]!.release();
});

Deno.test("ConnectionPermits raising the limit wakes waiters at once", async () => {
  const permits = new ConnectionPermits(0);
  assert.equal(permits.tryAcquire(), undefined, "limit 0: unreachable destination");
  const waiters = [permits.acquire(), permits.acquire(), permits.acquire()];
  permits.limit = 2;
  const [a, b] = await Promise.all(waiters.slice(0, 2));
  assert.equal(permits.inUse, 2);
  assert.equal(permits.waiting, 1);
  a!.release();
  (await waiters[2]!).release();
  b!.release();
  assert.equal(permits.inUse, 0);
});

Deno.test("ConnectionPermits refuses a limit that is not a whole number >= 0", () => {
  assert.throws(() => new ConnectionPermits(-1), {
    name: "RangeError",
    message: "Cannot set connection limit as 'limit' must be an integer >= 0: current value is -1",
  });
  const permits = new ConnectionPermits(1);
  assert.throws(() => (permits.limit = 1.5), RangeError);
  assert.equal(permits.limit, 1);
});

Deno.test("ConnectionPermits never grants beyond the limit in force, whatever the order", async () => {
  type Op = { op: "acquire" } | { op: "release"; i: number } | { op: "limit"; n: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.constant({ op: "acquire" as const }),
    fc.record({ op: fc.constant("release" as const), i: fc.nat(50) }),
    fc.record({ op: fc.constant("limit" as const), n: fc.integer({ min: 0, max: 5 }) }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { maxLength: 120, size: "max" }), async (ops) => {
      const permits = new ConnectionPermits(2);
      const held: Permit[] = [];
      let granted = 0;
      let released = 0;
      const grant = (p: Permit) => {
        // A grant happens while the count (this one included) is within the limit.
        assert.ok(permits.inUse <= permits.limit);
        granted++;
        held.push(p);
      };
      for (const o of ops) {
        if (o.op === "acquire") void permits.acquire().then(grant);
        else if (o.op === "limit") permits.limit = o.n;
        else if (held.length > 0) {
          const [p] = held.splice(o.i % held.length, 1);
          p!.release();
          p!.release();
          released++;
        }
        await settle();
        assert.equal(permits.inUse, granted - released);
      }
      // Clean up: open the gate, take everyone, give everything back.
      permits.limit = 1000;
      await settle();
      for (const p of held.splice(0)) p.release();
      assert.equal(permits.inUse, 0);
      assert.equal(permits.waiting, 0);
    }),
    { numRuns: 100 },
  );
});
