import assert from "node:assert/strict";
import fc from "fast-check";
import { Mailbox, type Priority } from "../../actors/mailbox.ts";

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

Deno.test("Mailbox.take() serves high before normal before low, FIFO within each", async () => {
  const box = new Mailbox<string>(10);
  box.offer("low-1", 2);
  box.offer("normal-1");
  box.offer("high-1", 0);
  box.offer("low-2", 2);
  box.offer("normal-2", 1);
  box.offer("high-2", 0);
  const out: string[] = [];
  while (box.size > 0) out.push(await box.take());
  assert.deepEqual(out, ["high-1", "high-2", "normal-1", "normal-2", "low-1", "low-2"]);
});

Deno.test("Mailbox.offer() refuses when full, so the sender backs off", () => {
  const box = new Mailbox<number>(3);
  assert.equal(box.capacity, 3);
  assert.deepEqual([1, 2, 3, 4].map((n) => box.offer(n, 0)), [true, true, true, false]);
  assert.equal(box.size, 3);
  assert.equal(box.room, 0);
  assert.equal(box.poll(), 1);
  assert.equal(box.room, 1);
  assert.equal(box.offer(5, 2), true);
  assert.deepEqual([box.sizeOf(0), box.sizeOf(1), box.sizeOf(2)], [2, 0, 1]);
});

Deno.test("Mailbox.take() waits for an item and gets it straight from offer()", async () => {
  const box = new Mailbox<string>(1);
  let got: string | undefined;
  const taking = box.take().then((v) => (got = v));
  await settle();
  assert.equal(got, undefined);
  assert.equal(box.offer("hello", 2), true);
  await taking;
  assert.equal(got, "hello");
  assert.equal(box.size, 0, "handed over, never queued");
});

Deno.test("Mailbox.take() serves several waiting takers in arrival order", async () => {
  const box = new Mailbox<number>(5);
  const takers = [box.take(), box.take(), box.take()];
  box.offer(1);
  box.offer(2, 2);
  box.offer(3, 0);
  assert.deepEqual(await Promise.all(takers), [1, 2, 3]);
});

Deno.test("Mailbox.take() rejects and withdraws when its signal aborts", async () => {
  const box = new Mailbox<string>(2);
  const stop = new AbortController();
  const first = box.take(stop.signal);
  const second = box.take();
  stop.abort(new Error("actor stopping"));
  await assert.rejects(first, /actor stopping/);
  box.offer("x");
  assert.equal(await second, "x", "the aborted taker got nothing");
  await assert.rejects(box.take(AbortSignal.abort(new Error("gone"))), /gone/);
  box.offer("kept");
  assert.equal(box.size, 1, "an aborted take leaves the mailbox alone");
});

Deno.test("Mailbox.drain() hands everything back, most urgent first, and empties", () => {
  const box = new Mailbox<string>(10);
  box.offer("n1");
  box.offer("l1", 2);
  box.offer("h1", 0);
  box.offer("n2");
  assert.deepEqual(box.drain(), ["h1", "n1", "n2", "l1"]);
  assert.equal(box.size, 0);
  assert.equal(box.room, 10);
  assert.deepEqual(box.drain(), []);
  assert.equal(box.poll(), undefined);
});

Deno.test("Mailbox keeps order across many items (queue compaction)", () => {
  const box = new Mailbox<number>(10_000);
  let next = 0;
  let expected = 0;
  for (let round = 0; round < 12; round++) {
    for (let i = 0; i < 3000; i++) assert.ok(box.offer(next++));
    for (let i = 0; i < 2500; i++) assert.equal(box.poll(), expected++);
  }
  const rest = box.drain();
  assert.deepEqual(rest, Array.from({ length: next - expected }, (_, i) => expected + i));
});

Deno.test("Mailbox carries falsy items faithfully", async () => {
  const box = new Mailbox<number | string | null>(5);
  box.offer(0);
  box.offer("", 0);
  box.offer(null, 2);
  assert.deepEqual([await box.take(), await box.take(), await box.take()], ["", 0, null]);
});

Deno.test("Mailbox matches a sorted-list model over random operations", () => {
  type Op = { op: "offer"; p: Priority } | { op: "poll" } | { op: "drain" };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        op: fc.constant("offer" as const),
        p: fc.constantFrom<Priority>(0, 1, 2),
      }),
    },
    { weight: 4, arbitrary: fc.constant({ op: "poll" as const }) },
    { weight: 1, arbitrary: fc.constant({ op: "drain" as const }) },
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.array(opArb, { maxLength: 200, size: "max" }),
      (cap, ops) => {
        const box = new Mailbox<number>(cap);
        let model: { p: Priority; seq: number }[] = [];
        let seq = 0;
        const byUrgency = () => [...model].sort((a, b) => a.p - b.p || a.seq - b.seq);
        for (const o of ops) {
          if (o.op === "offer") {
            const accepted = box.offer(seq, o.p);
            assert.equal(accepted, model.length < cap);
            if (accepted) model.push({ p: o.p, seq });
            seq++;
          } else if (o.op === "poll") {
            const head = byUrgency()[0];
            assert.equal(box.poll(), head?.seq);
            model = model.filter((m) => m !== head);
          } else {
            assert.deepEqual(box.drain(), byUrgency().map((m) => m.seq));
            model = [];
          }
          assert.equal(box.size, model.length);
          assert.equal(box.room, cap - model.length);
        }
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("Mailbox refuses a bad capacity or priority", () => {
  assert.throws(() => new Mailbox(0), {
    name: "RangeError",
    message: "Cannot create mailbox as 'capacity' must be an integer >= 1: current value is 0",
  });
  const box = new Mailbox<string>(1);
  assert.throws(() => box.offer("x", 3 as Priority), {
    name: "RangeError",
    message: "Cannot queue item as 'priority' must be 0, 1 or 2: current value is 3",
  });
  assert.equal(box.size, 0);
});
