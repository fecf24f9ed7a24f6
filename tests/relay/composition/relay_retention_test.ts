/**
 * The relay's hourly retention loop (relay/composition/relay.ts) also purges the bounce mailbox's
 * processed-message markers, with the same cut-off as finished deliveries (`queue.retention`), and
 * destinations' saved limits nobody wrote for 30 days (or the retention, when longer).
 * A whole relay runs in-process on a FakeClock with a Deliverer that must never be called.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import type { LogEvent } from "../../../relay/composition/log.ts";
import { loadConfig } from "../../../relay/config/config.ts";
import { startRelay } from "../../../relay/composition/relay.ts";
import { purgeBounceHistory } from "../../../relay/bounce_processing/wiring.ts";
import { type BounceMessageRow, insertBounceMessage } from "../../../db/bounces.ts";
import type { Db } from "../../../db/client.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { testDatabase } from "../../_support/db.ts";

const T0 = Date.UTC(2030, 2, 1, 10);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function marker(uidl: string, processedAt: number): BounceMessageRow {
  return {
    mailbox: "bounces@pop.test:995",
    uidl,
    processedAt: new Date(processedAt),
    kind: "unrecognised",
    matched: 0,
    unmatched: 1,
    summary: {},
    raw: new Uint8Array([1]),
  };
}

async function uidls(db: Db): Promise<string[]> {
  const { rows } = await sql<{ uidl: string }>`
    SELECT uidl FROM ferry.bounce_messages ORDER BY uidl`.execute(db);
  return rows.map((r) => r.uidl);
}

/** Lets real I/O (the database) run until `cond` holds; bounded. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`Cannot finish the test as ${what} did not happen`);
}

Deno.test("startRelay() purges bounce markers older than queue.retention, every hour", async () => {
  await using t = await testDatabase();
  await insertBounceMessage(t.db, marker("a-old", T0 - 31 * DAY));
  await insertBounceMessage(t.db, marker("b-ageing", T0 - 30 * DAY + HOUR / 2));
  await insertBounceMessage(t.db, marker("c-recent", T0 - DAY));
  const config = loadConfig(
    { FERRY_HOSTNAME: "relay.test", FERRY_CONFIG: "ferry.json" },
    () => JSON.stringify({ queue: { retention: "30d" } }),
    () => "relay.test",
  );
  const clock = new FakeClock(T0);
  const events: LogEvent[] = [];
  const purged = () => events.filter((e) => e.event === "bounce.purged");
  const stop = new AbortController();
  const relay = await startRelay({
    database: t,
    config,
    clock,
    random: () => 0.5,
    logger: { log: (e) => events.push(e) },
    instance: "retention-test",
    deliverer: { connect: () => assert.fail("nothing to deliver") },
  }, stop.signal);
  try {
    // The first pass runs at start.
    await until(() => purged().length === 1, "the first retention pass");
    assert.deepEqual(purged(), [{ event: "bounce.purged", messages: 1, complete: true }]);
    assert.deepEqual(await uidls(t.db), ["b-ageing", "c-recent"]);

    // An hour later, the next pass takes what has aged past the cut-off meanwhile. The pass goes
    // on after its bounce purge (unsubscribe tokens, destination and sender limits): the clock
    // moves only once the loop sleeps until then, or the hour would pass before it sleeps.
    await clock.untilSleepingAt(T0 + HOUR);
    await clock.advance(HOUR);
    await until(() => purged().length === 2, "the second retention pass");
    assert.deepEqual(purged()[1], { event: "bounce.purged", messages: 1, complete: true });
    assert.deepEqual(await uidls(t.db), ["c-recent"]);
  } finally {
    stop.abort();
    let done = false;
    const finished = relay.done.then(() => (done = true));
    for (let i = 0; i < 1000 && !done; i++) {
      await new Promise((r) => setTimeout(r, 1));
      await clock.advance(1000);
    }
    await finished;
  }
});

Deno.test("purgeBounceHistory() goes batch by batch and says when it stopped early", async () => {
  await using t = await testDatabase();
  for (let i = 0; i < 7; i++) await insertBounceMessage(t.db, marker(`m${i}`, T0 - 40 * DAY));
  await insertBounceMessage(t.db, marker("kept", T0));
  const before = new Date(T0 - 30 * DAY);
  assert.deepEqual(await purgeBounceHistory(t.db, { before, batchSize: 2, maxBatches: 3 }), {
    messages: 6,
    complete: false,
  });
  assert.deepEqual(await purgeBounceHistory(t.db, { before, batchSize: 2, maxBatches: 3 }), {
    messages: 1,
    complete: true,
  });
  assert.deepEqual(await uidls(t.db), ["kept"]);
});

Deno.test("startRelay() purges destinations' saved limits nobody wrote for 30 days, even with a shorter retention", async () => {
  await using t = await testDatabase();
  const keys = async () =>
    (await t.db.selectFrom("ferry.destination_state").select("key").orderBy("key").execute())
      .map((r) => r.key);
  for (const [key, at] of [["old.test", T0 - 31 * DAY], ["idle.test", T0 - 10 * DAY]] as const) {
    await t.db.insertInto("ferry.destination_state")
      .values({ key, state: "{}", owner: "x", updated_at: new Date(at) }).execute();
  }
  const config = loadConfig(
    { FERRY_HOSTNAME: "relay.test", FERRY_CONFIG: "ferry.json" },
    () => JSON.stringify({ queue: { retention: "7d" } }),
    () => "relay.test",
  );
  const clock = new FakeClock(T0);
  const stop = new AbortController();
  const relay = await startRelay({
    database: t,
    config,
    clock,
    random: () => 0.5,
    logger: { log: () => {} },
    instance: "retention-test",
    deliverer: { connect: () => assert.fail("nothing to deliver") },
  }, stop.signal);
  try {
    // The first pass runs at start; a destination idle for 10 days keeps its limits.
    for (let i = 0; i < 400 && (await keys()).length > 1; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(await keys(), ["idle.test"]);
  } finally {
    stop.abort();
    let done = false;
    const finished = relay.done.then(() => (done = true));
    for (let i = 0; i < 1000 && !done; i++) {
      await new Promise((r) => setTimeout(r, 1));
      await clock.advance(1000);
    }
    await finished;
  }
});
