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
