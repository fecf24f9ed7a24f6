/**
 * The LISTEN connection against a real PostgreSQL that stops and starts again: the relay hears
 * new outbox rows before the restart and after it. The cluster is this test's own (the suite's
 * shared one cannot be stopped); the wait between reconnect attempts runs on a fake clock, and
 * every wait for the server is for a condition, bounded.
 */
import assert from "node:assert/strict";
import pg from "pg";
import { openDatabase } from "../../db/client.ts";
import { migrate } from "../../db/migrate.ts";
import { listenForOutbox, setNotifyTrigger } from "../../db/notify.ts";
import { findPostgresBin, startCluster } from "../_support/postgres_cluster.ts";
import { requirePeer } from "../_support/peers.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";

const RETRY_MS = 1000;

Deno.test({
  name: "listenForOutbox() listens again after the database restarts",
  ignore: requirePeer("postgres", !findPostgresBin()),
  async fn() {
    const cluster = await startCluster(findPostgresBin()!, { durability: "fast" });
    const stop = new AbortController();
    let listening: Promise<void> | undefined;
    try {
      const setup = await openDatabase({ url: cluster.url, poolSize: 1 });
      await migrate(setup.db);
      await setNotifyTrigger(setup.db, true);
      await setup.close();

      const clock = new FakeClock();
      let heard = 0;
      const errors: unknown[] = [];
      listening = listenForOutbox(cluster.url, () => heard++, stop.signal, {
        clock,
        retryMs: RETRY_MS,
        onError: (err) => errors.push(err),
      });

      // Until LISTEN is in place, a row is not heard: insert until one is.
      await until(async () => {
        const before = heard;
        await insertRow(cluster.url);
        return await waitFor(() => heard > before, 500);
      }, "a notification before the restart");

      await cluster.pause();
      await cluster.resume();
      // The lost connection is reported, then the next attempt waits for the retry time.
      await clock.untilSleeping();
      assert.ok(errors.length >= 1, "the lost connection was reported");
      const beforeReconnect = heard;
      await clock.advance(RETRY_MS);
      await until(
        () => Promise.resolve(heard > beforeReconnect),
        "the wake-up once LISTEN is back (rows committed meanwhile)",
      );
      const beforeInsert = heard;
      await insertRow(cluster.url);
      await until(() => Promise.resolve(heard > beforeInsert), "a notification after the restart");
    } finally {
      stop.abort();
      await listening;
      await cluster.stop();
    }
  },
});

async function insertRow(url: string): Promise<void> {
  const app = new pg.Client({ connectionString: url });
  await app.connect();
  try {
    await app.query(
      `INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body)
       VALUES ('App <app@ferry.test>', ARRAY['r@d.test'], 'Hello', 'Body')`,
    );
  } finally {
    await app.end();
  }
}

/** Polls `cond` (every 10 ms of real time, while the server works) for at most `ms`. */
async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 10) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}

async function until(cond: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`Cannot go on as this did not happen within ${ms} ms: ${what}`);
}
