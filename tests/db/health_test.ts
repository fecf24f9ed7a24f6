import assert from "node:assert/strict";
import { backoffDelay, DatabaseHealth, isConnectionError } from "../../db/health.ts";
import type { Db } from "../../db/client.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";

Deno.test("backoffDelay() doubles from 250 ms to a 10 s cap, jittered into [50%, 100%)", () => {
  const schedule = Array.from({ length: 8 }, (_, i) => backoffDelay(i, 0.999999));
  assert.deepEqual(schedule, [250, 500, 1000, 2000, 4000, 8000, 10000, 10000]);
  assert.deepEqual(Array.from({ length: 8 }, (_, i) => backoffDelay(i, 0)), [
    125,
    250,
    500,
    1000,
    2000,
    4000,
    5000,
    5000,
  ]);
  assert.equal(backoffDelay(1000, 0.5), 7500, "no overflow for large attempts");
});

Deno.test("isConnectionError() tells an outage from a statement's own error", () => {
  const pgError = (code: string) => Object.assign(new Error("x"), { code });
  for (
    const e of [
      pgError("57P01"),
      pgError("57P03"),
      pgError("08006"),
      pgError("ECONNREFUSED"),
      new Error("Connection terminated unexpectedly"),
      new AggregateError([pgError("ECONNREFUSED")], ""),
      new Error("wrapped", { cause: pgError("ECONNRESET") }),
    ]
  ) assert.equal(isConnectionError(e), true, String(e));
  for (const e of [pgError("23505"), pgError("42P01"), new Error("bad row"), "text", undefined]) {
    assert.equal(isConnectionError(e), false, String(e));
  }
});

/** A database whose `SELECT 1` fails until `up` is set. */
function flakyDb(state: { up: boolean; probes: number }): Db {
  const executor = {
    executeQuery: () => {
      state.probes++;
      return state.up ? Promise.resolve({ rows: [{ "?column?": 1 }] }) : Promise.reject(
        Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
      );
    },
    compileQuery: (node: unknown) => ({ sql: "SELECT 1", parameters: [], query: node }),
    transformQuery: (node: unknown) => node,
    withPlugins: () => executor,
    provideConnection: (fn: (c: unknown) => unknown) => fn({ executeQuery: executor.executeQuery }),
    get adapter() {
      return { supportsReturning: true };
    },
  };
  return { getExecutor: () => executor } as unknown as Db;
}

Deno.test("DatabaseHealth logs one line when the database goes and one when it is back", async () => {
  const clock = new FakeClock();
  const state = { up: false, probes: 0 };
  const logs: unknown[] = [];
  const gauge: boolean[] = [];
  const stop = new AbortController();
  const health = new DatabaseHealth({
    db: flakyDb(state),
    clock,
    random: () => 0.999999,
    log: (e) => logs.push(e),
    setUp: (up) => gauge.push(up),
    signal: stop.signal,
  });
  const err = Object.assign(new Error("terminating connection"), { code: "57P01" });
  assert.equal(health.failed(err), true);
  // Every loop that fails meanwhile reports too: still one line.
  for (let i = 0; i < 50; i++) assert.equal(health.failed(err), true);
  assert.equal(health.failed(new Error("duplicate key")), false, "not an outage");
  assert.equal(health.up, false);
  let resumed = false;
  const waiting = health.waitUntilUp().then(() => (resumed = true));

  // Probes back off: 250, 500, 1000, 2000 ms ... and not one more than that in 3.75 s.
  await clock.advance(3750);
  assert.equal(state.probes, 4);
  assert.equal(resumed, false);
  state.up = true;
  await clock.advance(4000);
  await waiting;
  assert.equal(health.up, true);
  assert.deepEqual(logs, [
    { event: "database.down", error: "terminating connection" },
    { event: "database.up", downMs: 7750, probes: 5 },
  ]);
  assert.deepEqual(gauge, [true, false, true]);
  stop.abort();
  await health.stopped();
});
