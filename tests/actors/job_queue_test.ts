import assert from "node:assert/strict";
import fc from "fast-check";
import {
  addJobs,
  drainJobs,
  type Job,
  type Jobs,
  NO_JOBS,
  peekJob,
  takeJob,
} from "../../actors/job_queue.ts";
import type { Delivery } from "../../actors/ports.ts";

/**
 * The queue as the domain actor holds it: a value replaced by each operation. The cases below
 * read better as a sequence of calls, so this keeps the current value and asserts on every step
 * that the value it was given is left as it was (the transitions rely on that).
 */
class JobQueue {
  #jobs: Jobs = NO_JOBS;
  get size(): number {
    return this.#jobs.size;
  }
  add(deliveries: readonly Delivery[], maxRecipients: number): void {
    this.#jobs = this.#step((j) => ({ jobs: addJobs(j, deliveries, maxRecipients), out: 0 })).jobs;
  }
  peek(): Job | undefined {
    return peekJob(this.#jobs);
  }
  take(max = Infinity): Job | undefined {
    return this.#step((j) => {
      const r = takeJob(j, max);
      return { jobs: r.jobs, out: r.job };
    }).out;
  }
  drainWhere(match: (d: Delivery) => boolean): Delivery[] {
    return this.#step((j) => {
      const r = drainJobs(j, match);
      return { jobs: r.jobs, out: r.drained };
    }).out;
  }
  drain(): Delivery[] {
    return this.drainWhere(() => true);
  }
  #step<T>(f: (jobs: Jobs) => { jobs: Jobs; out: T }): { jobs: Jobs; out: T } {
    const before = this.#jobs;
    const snapshot = JSON.stringify(before);
    const r = f(before);
    assert.equal(JSON.stringify(before), snapshot, "an operation changed the value it was given");
    this.#jobs = r.jobs;
    return r;
  }
}

const FAR = Date.UTC(2030, 0, 1);
let nextId = 1;

/** A delivery of message `outboxId`; ids are unique across the file so identity checks hold. */
function delivery(outboxId: number, priority = 1, recipient?: string): Delivery {
  const id = nextId++;
  return {
    id,
    outboxId,
    recipient: recipient ?? `r${id}@example.test`,
    domain: "example.test",
    priority,
    attempts: 0,
    expiresAt: FAR,
    smtputf8: false,
    leaseToken: id,
    leaseExpiresAt: FAR,
  };
}

const ids = (ds: readonly Delivery[]) => ds.map((d) => d.id);
const shape = (j: Job | undefined) =>
  j && { outboxId: j.outboxId, priority: j.priority, ids: ids(j.deliveries) };

/** Takes every job left, in order. */
function takeAll(q: JobQueue): Job[] {
  const out: Job[] = [];
  for (let j = q.take(); j; j = q.take()) out.push(j);
  return out;
}

Deno.test("JobQueue starts empty: size 0, nothing to peek, take or drain", () => {
  const q = new JobQueue();
  assert.equal(q.size, 0);
  assert.equal(q.peek(), undefined);
  assert.equal(q.take(), undefined);
  assert.equal(q.take(5), undefined);
  assert.deepEqual(q.drain(), []);
  assert.deepEqual(q.drainWhere(() => true), []);
  assert.equal(q.size, 0);
});

Deno.test("JobQueue.add() of nothing queues nothing", () => {
  const q = new JobQueue();
  q.add([], 10);
  assert.equal(q.size, 0);
  assert.equal(q.peek(), undefined);
});

Deno.test("JobQueue.add() groups one message's deliveries into one job, adjacent or not", () => {
  const q = new JobQueue();
  const a1 = delivery(7), b1 = delivery(8), a2 = delivery(7), c1 = delivery(9), a3 = delivery(7);
  const b2 = delivery(8);
  q.add([a1, b1, a2, c1, a3, b2], 100);
  assert.equal(q.size, 6, "size counts deliveries, not jobs");
  // Messages keep the order of their first delivery; recipients keep their order within one.
  assert.deepEqual(takeAll(q).map(shape), [
    { outboxId: 7, priority: 1, ids: ids([a1, a2, a3]) },
    { outboxId: 8, priority: 1, ids: ids([b1, b2]) },
    { outboxId: 9, priority: 1, ids: ids([c1]) },
  ]);
  assert.equal(q.size, 0);
});

Deno.test("JobQueue.add() cuts a message into jobs of at most maxRecipients, in order", () => {
  const q = new JobQueue();
  const m = Array.from({ length: 7 }, () => delivery(1));
  q.add(m, 3);
  assert.equal(q.size, 7);
  assert.deepEqual(takeAll(q).map((j) => ids(j.deliveries)), [
    ids(m.slice(0, 3)),
    ids(m.slice(3, 6)),
    ids(m.slice(6)),
  ]);
});

Deno.test("JobQueue.add() with maxRecipients 1 makes one job per recipient; exact multiples leave no stub", () => {
  const one = new JobQueue();
  const m = [delivery(1), delivery(1), delivery(1)];
  one.add(m, 1);
  assert.deepEqual(takeAll(one).map((j) => ids(j.deliveries)), m.map((d) => [d.id]));

  const exact = new JobQueue();
  exact.add(Array.from({ length: 4 }, () => delivery(2)), 2);
  assert.deepEqual(takeAll(exact).map((j) => j.deliveries.length), [2, 2]);
});

Deno.test("JobQueue serves high before normal before low, whatever the order they were added in", () => {
  const q = new JobQueue();
  const low = delivery(1, 2), normal = delivery(2, 1), high = delivery(3, 0);
  q.add([low], 10);
  q.add([normal], 10);
  q.add([high], 10);
  assert.deepEqual(shape(q.peek()), { outboxId: 3, priority: 0, ids: [high.id] });
  assert.deepEqual(takeAll(q).map((j) => j.outboxId), [3, 2, 1]);
});

Deno.test("JobQueue is first in, first out within a lane, across add() calls", () => {
  const q = new JobQueue();
  q.add([delivery(1), delivery(2)], 10);
  q.add([delivery(3)], 10);
  q.add([delivery(4, 0), delivery(5)], 10);
  assert.deepEqual(takeAll(q).map((j) => j.outboxId), [4, 1, 2, 3, 5]);
});

Deno.test("JobQueue.add() clamps priorities outside 0-2 to the nearest lane", () => {
  const q = new JobQueue();
  q.add([delivery(1, 9)], 10);
  q.add([delivery(2, 1)], 10);
  q.add([delivery(3, -4)], 10);
  assert.deepEqual(takeAll(q).map((j) => [j.outboxId, j.priority]), [[3, 0], [2, 1], [1, 2]]);
});

Deno.test("JobQueue.add() files a message under its first delivery's priority", () => {
  // A message has one priority (copied from its outbox row); should its deliveries disagree,
  // the message still travels as one job rather than being split between lanes.
  const q = new JobQueue();
  q.add([delivery(1, 1)], 10);
  const first = delivery(2, 0), second = delivery(2, 2);
  q.add([first, second], 10);
  assert.deepEqual(shape(q.take()), { outboxId: 2, priority: 0, ids: ids([first, second]) });
  assert.equal(q.take()?.outboxId, 1);
});

Deno.test("JobQueue.add() groups within one call only: a message added again queues behind", () => {
  const q = new JobQueue();
  const a = delivery(1), b = delivery(2), again = delivery(1);
  q.add([a, b], 10);
  q.add([again], 10);
  assert.deepEqual(takeAll(q).map(shape), [
    { outboxId: 1, priority: 1, ids: [a.id] },
    { outboxId: 2, priority: 1, ids: [b.id] },
    { outboxId: 1, priority: 1, ids: [again.id] },
  ]);
});

Deno.test("JobQueue.peek() shows the next job without taking it", () => {
  const q = new JobQueue();
  q.add([delivery(1), delivery(1), delivery(2, 0)], 10);
  const seen = q.peek();
  assert.equal(seen, q.peek(), "peeking twice sees the same job");
  assert.equal(q.size, 3);
  assert.equal(q.take(), seen);
  assert.equal(q.size, 2);
  assert.equal(q.peek()?.outboxId, 1);
});

Deno.test("JobQueue.take() without a bound takes the whole next job", () => {
  const q = new JobQueue();
  const m = [delivery(1), delivery(1), delivery(1)];
  q.add(m, 10);
  assert.deepEqual(ids(q.take()!.deliveries), ids(m));
  assert.equal(q.size, 0);
  assert.equal(q.take(), undefined);
});

Deno.test("JobQueue.take(max) takes the first max recipients and leaves the rest first in line", () => {
  const q = new JobQueue();
  const m = Array.from({ length: 5 }, () => delivery(1));
  const other = delivery(2);
  q.add([...m, other], 10);
  const head = q.take(2)!;
  assert.deepEqual(shape(head), { outboxId: 1, priority: 1, ids: ids(m.slice(0, 2)) });
  assert.equal(q.size, 4);
  assert.deepEqual(shape(q.peek()), { outboxId: 1, priority: 1, ids: ids(m.slice(2)) });
  assert.deepEqual(ids(q.take(2)!.deliveries), ids(m.slice(2, 4)));
  assert.deepEqual(ids(q.take(2)!.deliveries), [m[4]!.id], "the last piece, smaller than max");
  assert.equal(q.take(2)?.outboxId, 2);
  assert.equal(q.size, 0);
});

Deno.test("JobQueue.take(max) never merges jobs: a bound above the job's size takes that job alone", () => {
  const q = new JobQueue();
  q.add([delivery(1), delivery(2), delivery(2)], 10);
  const j = q.take(100)!;
  assert.equal(j.outboxId, 1);
  assert.equal(j.deliveries.length, 1);
  assert.equal(q.size, 2);
  assert.equal(q.take(2)!.deliveries.length, 2, "a bound equal to the job's size takes it whole");
  assert.equal(q.size, 0);
});

Deno.test("JobQueue.take(max) leaves the job it cut intact for earlier holders", () => {
  // Jobs handed out are values: cutting the remainder must not change what peek() returned.
  const q = new JobQueue();
  q.add([delivery(1), delivery(1), delivery(1)], 10);
  const before = q.peek()!;
  const snapshot = ids(before.deliveries);
  q.take(1);
  assert.deepEqual(ids(before.deliveries), snapshot);
});

Deno.test("JobQueue: high-priority mail overtakes the rest of a normal message already cut", () => {
  const q = new JobQueue();
  q.add([delivery(1), delivery(1), delivery(1)], 10);
  q.take(1);
  q.add([delivery(2, 0)], 10);
  assert.equal(q.take()?.outboxId, 2);
  assert.deepEqual(q.take()?.deliveries.length, 2, "then the normal message's remainder");
});

Deno.test("JobQueue.drainWhere() removes and returns matching deliveries from every lane, in queue order", () => {
  const q = new JobQueue();
  const hx = delivery(1, 0, "a@x.test"), hy = delivery(1, 0, "a@y.test");
  const nx = delivery(2, 1, "b@x.test"), ny1 = delivery(3, 1, "c@y.test");
  const ny2 = delivery(3, 1, "d@y.test"), lx = delivery(4, 2, "e@x.test");
  q.add([lx, nx, ny1, hx, ny2, hy], 10);
  const onX = (d: Delivery) => d.recipient.endsWith("@x.test");
  assert.deepEqual(ids(q.drainWhere(onX)), ids([hx, nx, lx]));
  assert.equal(q.size, 3);
  // Untouched and trimmed jobs keep their places; a job left empty is gone.
  assert.deepEqual(takeAll(q).map(shape), [
    { outboxId: 1, priority: 0, ids: [hy.id] },
    { outboxId: 3, priority: 1, ids: ids([ny1, ny2]) },
  ]);
});

Deno.test("JobQueue.drainWhere() with no match changes nothing", () => {
  const q = new JobQueue();
  q.add([delivery(1), delivery(1), delivery(2, 2)], 10);
  const head = q.peek();
  assert.deepEqual(q.drainWhere(() => false), []);
  assert.equal(q.size, 3);
  assert.equal(q.peek(), head, "the same job, not a copy");
});

Deno.test("JobQueue.drainWhere() that matches everything empties the queue", () => {
  const q = new JobQueue();
  const all = [delivery(1, 0), delivery(2, 1), delivery(3, 2)];
  q.add(all, 10);
  assert.deepEqual(ids(q.drainWhere(() => true)), ids(all));
  assert.equal(q.size, 0);
  assert.equal(q.peek(), undefined);
});

Deno.test("JobQueue.drain() returns every queued delivery, by lane then queue order, and empties the queue", () => {
  const q = new JobQueue();
  const low = delivery(1, 2), n1 = delivery(2), n2 = delivery(2), n3 = delivery(2);
  const high = delivery(3, 0);
  q.add([low, n1, n2, n3, high], 2);
  q.take(1); // the high-priority job
  q.take(1); // the first recipient of message 2
  assert.deepEqual(ids(q.drain()), ids([n2, n3, low]));
  assert.equal(q.size, 0);
  assert.equal(q.take(), undefined);
  assert.deepEqual(q.drain(), []);
  // Still usable afterwards.
  q.add([delivery(4)], 2);
  assert.equal(q.size, 1);
  assert.equal(q.take()?.outboxId, 4);
});

type Op =
  | { op: "add"; messages: { outboxId: number; n: number }[]; max: number }
  | { op: "take"; max: number | undefined }
  | { op: "drainWhere"; mod: number }
  | { op: "drain" };

Deno.test("JobQueue keeps every delivery exactly once and its size exact, whatever the operations", () => {
  const ops = fc.array(
    fc.oneof(
      {
        arbitrary: fc.record({
          op: fc.constant("add" as const),
          messages: fc.array(
            fc.record({
              outboxId: fc.integer({ min: 1, max: 6 }),
              n: fc.integer({ min: 1, max: 5 }),
            }),
            { maxLength: 4 },
          ),
          max: fc.integer({ min: 1, max: 4 }),
        }),
        weight: 3,
      },
      {
        arbitrary: fc.record({
          op: fc.constant("take" as const),
          max: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
        }),
        weight: 3,
      },
      fc.record({ op: fc.constant("drainWhere" as const), mod: fc.integer({ min: 2, max: 4 }) }),
      fc.record({ op: fc.constant("drain" as const) }),
    ),
    { maxLength: 40 },
  );
  fc.assert(fc.property(ops, (script: Op[]) => {
    const q = new JobQueue();
    const queued = new Map<number, Delivery>();
    const lane = (p: number) => Math.min(2, Math.max(0, p));
    const out = (ds: readonly Delivery[]) => {
      for (const d of ds) assert.ok(queued.delete(d.id), `delivery ${d.id} came out twice`);
    };
    for (const step of script) {
      if (step.op === "add") {
        // One priority per message, as the database has it; -1 and 3 are out of range.
        const ds = step.messages.flatMap((m) =>
          Array.from({ length: m.n }, () => delivery(m.outboxId, (m.outboxId % 5) - 1))
        );
        q.add(ds, step.max);
        for (const d of ds) queued.set(d.id, d);
      } else if (step.op === "take") {
        const best = Math.min(...[...queued.values()].map((d) => lane(d.priority)));
        const j = q.take(step.max);
        if (queued.size === 0) {
          assert.equal(j, undefined);
          continue;
        }
        assert.ok(j && j.deliveries.length > 0, "a job has recipients");
        assert.ok(j.deliveries.length <= (step.max ?? Infinity));
        assert.equal(j.priority, best, "nothing of a better lane is left behind");
        assert.ok(j.deliveries.every((d) => d.outboxId === j.outboxId), "one message a job");
        out(j.deliveries);
      } else if (step.op === "drainWhere") {
        const match = (d: Delivery) => d.id % step.mod === 0;
        const gone = q.drainWhere(match);
        assert.ok(gone.every(match));
        out(gone);
        assert.ok([...queued.values()].every((d) => !match(d)), "every match was drained");
      } else {
        out(q.drain());
        assert.equal(queued.size, 0);
      }
      assert.equal(q.size, queued.size, "size counts the deliveries still queued");
    }
    out(q.drain());
    assert.equal(queued.size, 0, "nothing lost");
  }));
});
