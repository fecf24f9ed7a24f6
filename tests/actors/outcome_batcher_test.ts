import assert from "node:assert/strict";
import { OutcomeBatcher } from "../../actors/outcome_batcher.ts";
import type { OutcomeRecord } from "../../actors/ports.ts";

function outcome(id: number): OutcomeRecord {
  return {
    delivery: {
      id,
      outboxId: id,
      recipient: `r${id}@example.test`,
      domain: "example.test",
      attempts: 0,
      priority: 1,
      expiresAt: Date.UTC(2030, 0, 1),
      leaseToken: id,
      leaseExpiresAt: Date.UTC(2030, 0, 1),
      smtputf8: false,
    },
    status: "delivered",
    attempted: true,
    code: 250,
    reply: "250 ok",
  } as OutcomeRecord;
}

/** A promise and its resolver, for a database that comes back when the test says. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

Deno.test("OutcomeBatcher.record() coalesces outcomes recorded during a write into the next one", async () => {
  const batches: number[][] = [];
  const first = gate();
  const b = new OutcomeBatcher(async (os) => {
    batches.push(os.map((o) => o.delivery.id));
    if (batches.length === 1) await first.opened;
    return { refused: [] };
  });
  const a = b.record(outcome(1));
  const rest = [2, 3, 4].map((i) => b.record(outcome(i)));
  first.open();
  assert.deepEqual(await Promise.all([a, ...rest]), [false, false, false, false]);
  assert.deepEqual(batches, [[1], [2, 3, 4]]);
});

Deno.test("OutcomeBatcher.record() holds outcomes while the database is away and writes them when it returns", async () => {
  const written: number[] = [];
  let down = true;
  const back = gate();
  const retried: unknown[] = [];
  const b = new OutcomeBatcher((os) => {
    if (down) return Promise.reject(new Error("Connection terminated unexpectedly"));
    written.push(...os.map((o) => o.delivery.id));
    return Promise.resolve({ refused: [] });
  }, {
    retry: async (err) => {
      retried.push(err);
      await back.opened;
      return true;
    },
  });
  const results = [1, 2, 3].map((i) => b.record(outcome(i)));
  // Recorded while the first write waits for the database: held, not lost, not rejected.
  const later = b.record(outcome(4));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(b.held, 3, "outcomes 2-4 wait behind the failed batch");
  assert.deepEqual(written, []);
  down = false;
  back.open();
  assert.deepEqual(await Promise.all([...results, later]), [false, false, false, false]);
  assert.deepEqual(written.sort(), [1, 2, 3, 4]);
  assert.equal(retried.length, 1, "one failed write, one wait for the database");
});

Deno.test("OutcomeBatcher.record() gives up outcomes beyond maxHeld while writes fail, as refused", async () => {
  const back = gate();
  const gaveUp: [number, string][] = [];
  let down = true;
  const b = new OutcomeBatcher((os) => {
    if (down) return Promise.reject(new Error("connect ECONNREFUSED"));
    return Promise.resolve({ refused: os.map((o) => o.delivery.id).filter((id) => id === 2) });
  }, {
    maxHeld: 2,
    retry: async () => {
      await back.opened;
      return true;
    },
    gaveUp: (n, reason) => gaveUp.push([n, reason]),
  });
  const first = b.record(outcome(1));
  await new Promise((r) => setTimeout(r, 0));
  const held = [b.record(outcome(2)), b.record(outcome(3))];
  // Two held already: the next one is given up at once (its lease brings it back later).
  assert.equal(await b.record(outcome(5)), true);
  assert.deepEqual(gaveUp, [[1, "more than 2 outcomes held"]]);
  down = false;
  back.open();
  assert.deepEqual(await Promise.all([first, ...held]), [false, true, false]);
});

Deno.test("OutcomeBatcher.record() resolves a batch as refused when retry gives up, never rejects", async () => {
  const gaveUp: [number, string][] = [];
  const b = new OutcomeBatcher(() => Promise.reject(new Error("syntax error at or near")), {
    retry: () => Promise.resolve(false),
    gaveUp: (n, reason) => gaveUp.push([n, reason]),
  });
  assert.deepEqual(await Promise.all([b.record(outcome(1)), b.record(outcome(2))]), [true, true]);
  assert.equal(gaveUp.reduce((n, [c]) => n + c, 0), 2);
  assert.match(gaveUp[0]![1], /syntax error/);
  await b.flush();
});

/** Resolves once `n` callbacks ran: lets a test wait for a write or retry without a timer. */
function counter(n: number) {
  let seen = 0;
  let done!: () => void;
  const reached = new Promise<void>((r) => (done = r));
  return {
    reached,
    tick() {
      if (++seen === n) done();
    },
  };
}

Deno.test("OutcomeBatcher.record() writes at once when idle, one statement per outcome on a quiet relay", async () => {
  const batches: number[][] = [];
  const b = new OutcomeBatcher((os) => {
    batches.push(os.map((o) => o.delivery.id));
    return Promise.resolve({ refused: [] });
  });
  assert.equal(b.held, 0);
  assert.equal(await b.record(outcome(1)), false);
  assert.equal(await b.record(outcome(2)), false);
  assert.deepEqual(batches, [[1], [2]]);
  assert.equal(b.held, 0);
});

Deno.test("OutcomeBatcher passes the outcomes themselves to write, in the order recorded", async () => {
  const seen: OutcomeRecord[] = [];
  const b = new OutcomeBatcher((os) => {
    seen.push(...os);
    return Promise.resolve({ refused: [] });
  });
  const os = [outcome(3), outcome(1), outcome(2)];
  await b.recordAll(os);
  assert.equal(seen.length, 3);
  os.forEach((o, i) => assert.equal(seen[i], o));
});

Deno.test("OutcomeBatcher.record() resolves true only for the ids the write refused", async () => {
  const b = new OutcomeBatcher((os) =>
    Promise.resolve({
      // An id the batch does not hold (a stray) must not confuse the others.
      refused: [...os.map((o) => o.delivery.id).filter((id) => id % 2 === 0), 999],
    })
  );
  assert.deepEqual(
    await Promise.all([1, 2, 3, 4].map((i) => b.record(outcome(i)))),
    [false, true, false, true],
  );
});

Deno.test("OutcomeBatcher.recordAll() resolves with the refused ids, in the order given", async () => {
  const b = new OutcomeBatcher((os) =>
    Promise.resolve({ refused: os.map((o) => o.delivery.id).filter((id) => id > 2) })
  );
  assert.deepEqual(await b.recordAll([5, 1, 4, 2, 3].map(outcome)), [5, 4, 3]);
  assert.deepEqual(await b.recordAll([1, 2].map(outcome)), []);
});

Deno.test("OutcomeBatcher.recordAll() of nothing writes nothing", async () => {
  let writes = 0;
  const b = new OutcomeBatcher(() => {
    writes++;
    return Promise.resolve({ refused: [] });
  });
  assert.deepEqual(await b.recordAll([]), []);
  await b.flush();
  assert.equal(writes, 0);
});

Deno.test("OutcomeBatcher.recordAll() reports given-up outcomes among the refused", async () => {
  const b = new OutcomeBatcher(() => Promise.reject(new Error("deadlock detected")));
  assert.deepEqual(await b.recordAll([7, 8].map(outcome)), [7, 8]);
});

Deno.test("OutcomeBatcher splits what accumulated into statements of at most maxBatch, oldest first", async () => {
  const batches: number[][] = [];
  const first = gate();
  const b = new OutcomeBatcher(async (os) => {
    batches.push(os.map((o) => o.delivery.id));
    if (batches.length === 1) await first.opened;
    return { refused: [] };
  }, { maxBatch: 2 });
  const all = [1, 2, 3, 4, 5, 6].map((i) => b.record(outcome(i)));
  assert.equal(b.held, 5, "one in flight, five waiting");
  first.open();
  await Promise.all(all);
  assert.deepEqual(batches, [[1], [2, 3], [4, 5], [6]]);
  assert.equal(b.held, 0);
});

Deno.test("OutcomeBatcher.flush() resolves at once when nothing is pending", async () => {
  let writes = 0;
  const b = new OutcomeBatcher(() => {
    writes++;
    return Promise.resolve({ refused: [] });
  });
  await b.flush();
  assert.equal(writes, 0);
});

Deno.test("OutcomeBatcher.flush() waits for the write in flight and for everything queued behind it", async () => {
  const written: number[] = [];
  const first = gate();
  const b = new OutcomeBatcher(async (os) => {
    if (written.length === 0) await first.opened;
    written.push(...os.map((o) => o.delivery.id));
    return { refused: [] };
  }, { maxBatch: 1 });
  for (const i of [1, 2, 3]) void b.record(outcome(i));
  let flushed = false;
  const f = b.flush().then(() => (flushed = true));
  await Promise.resolve();
  assert.equal(flushed, false, "the first write is still held");
  first.open();
  await f;
  assert.deepEqual(written, [1, 2, 3]);
  assert.equal(b.held, 0);
});

Deno.test("OutcomeBatcher.flush() also resolves when the pending outcomes are given up", async () => {
  const gaveUp: number[] = [];
  const b = new OutcomeBatcher(() => Promise.reject(new Error("relation does not exist")), {
    maxBatch: 2,
    gaveUp: (n) => gaveUp.push(n),
  });
  const results = [1, 2, 3].map((i) => b.record(outcome(i)));
  await b.flush();
  assert.deepEqual(gaveUp, [1, 2], "the first alone, then the two that waited, each given up");
  assert.deepEqual(await Promise.all(results), [true, true, true]);
  assert.equal(b.held, 0);
});

Deno.test("OutcomeBatcher without retry or gaveUp gives a failed batch up, as refused, silently", async () => {
  const b = new OutcomeBatcher(() => Promise.reject(new Error("boom")));
  assert.equal(await b.record(outcome(1)), true);
});

Deno.test("OutcomeBatcher gives a batch up when retry itself fails, and when write throws outright", async () => {
  const reasons: string[] = [];
  const rejecting = new OutcomeBatcher(() => Promise.reject(new Error("write failed")), {
    retry: () => Promise.reject(new Error("health check broke")),
    gaveUp: (_, reason) => reasons.push(reason),
  });
  assert.equal(await rejecting.record(outcome(1)), true);
  // A write that throws before returning a promise is a failed write like any other.
  const throwing = new OutcomeBatcher(() => {
    throw "not an Error";
  }, { gaveUp: (_, reason) => reasons.push(reason) });
  assert.equal(await throwing.record(outcome(2)), true);
  assert.deepEqual(reasons, ["write failed", "not an Error"]);
});

Deno.test("OutcomeBatcher writes a retried batch first, ahead of outcomes recorded while it waited", async () => {
  const batches: number[][] = [];
  let down = true;
  const back = gate();
  const retrying = counter(1);
  const b = new OutcomeBatcher((os) => {
    if (down) return Promise.reject(new Error("Connection terminated"));
    batches.push(os.map((o) => o.delivery.id));
    return Promise.resolve({ refused: [] });
  }, {
    maxBatch: 2,
    retry: async () => {
      retrying.tick();
      await back.opened;
      return true;
    },
  });
  const all = [b.record(outcome(1)), b.record(outcome(2))];
  await retrying.reached;
  all.push(b.record(outcome(3)), b.record(outcome(4)));
  down = false;
  back.open();
  assert.deepEqual(await Promise.all(all), [false, false, false, false]);
  assert.deepEqual(batches, [[1, 2], [3, 4]]);
});

Deno.test("OutcomeBatcher retries the same batch as often as retry asks", async () => {
  let failures = 3;
  const retries = counter(3);
  const written: number[] = [];
  const b = new OutcomeBatcher((os) => {
    if (failures-- > 0) return Promise.reject(new Error("too many clients already"));
    written.push(...os.map((o) => o.delivery.id));
    return Promise.resolve({ refused: [] });
  }, {
    retry: () => {
      retries.tick();
      return Promise.resolve(true);
    },
  });
  assert.equal(await b.record(outcome(1)), false);
  await retries.reached;
  assert.deepEqual(written, [1], "written once, after three failures");
});

Deno.test("OutcomeBatcher holds any number of outcomes behind a slow write that has not failed", async () => {
  // maxHeld bounds memory while the database is away, not while it is merely busy.
  const slow = gate();
  const gaveUp: number[] = [];
  let writes = 0;
  const b = new OutcomeBatcher(async () => {
    if (writes++ === 0) await slow.opened;
    return { refused: [] };
  }, { maxHeld: 2, gaveUp: (n) => gaveUp.push(n) });
  const all = [1, 2, 3, 4, 5].map((i) => b.record(outcome(i)));
  assert.equal(b.held, 4);
  slow.open();
  assert.deepEqual(await Promise.all(all), [false, false, false, false, false]);
  assert.deepEqual(gaveUp, []);
});

Deno.test("OutcomeBatcher accepts outcomes beyond maxHeld again once a write succeeds", async () => {
  let down = true;
  const back = gate();
  const retrying = counter(1);
  const gaveUp: number[] = [];
  const b = new OutcomeBatcher(() => {
    if (down) return Promise.reject(new Error("Connection terminated"));
    return Promise.resolve({ refused: [] });
  }, {
    maxHeld: 1,
    retry: async () => {
      retrying.tick();
      await back.opened;
      return true;
    },
    gaveUp: (n) => gaveUp.push(n),
  });
  const first = b.record(outcome(1));
  await retrying.reached;
  const held = b.record(outcome(2));
  assert.equal(await b.record(outcome(3)), true, "over maxHeld while failing: given up");
  down = false;
  back.open();
  assert.deepEqual(await Promise.all([first, held]), [false, false]);
  // Writes succeed again: the bound no longer applies.
  const later = [4, 5, 6].map((i) => b.record(outcome(i)));
  assert.deepEqual(await Promise.all(later), [false, false, false]);
  assert.deepEqual(gaveUp, [1]);
});

Deno.test("OutcomeBatcher exposes the write it was built with", () => {
  const write = () => Promise.resolve({ refused: [] as number[] });
  assert.equal(new OutcomeBatcher(write).write, write);
});
