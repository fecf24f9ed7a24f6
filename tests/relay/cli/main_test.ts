import assert from "node:assert/strict";
import { main } from "../../../relay/cli/main.ts";
import { adminApp } from "../../../relay/admin/app.ts";
import { ingestOutbox } from "../../../db/ingest.ts";
import type { Db } from "../../../db/client.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { testDatabase } from "../../_support/db.ts";
import { insertMany, insertOutbox } from "../../_support/outbox.ts";
import { settleAll } from "../admin/_helpers.ts";

const TOKEN = "cli-token-0123456789";

/** A relay's admin API on a free port, and a way to run the CLI against it. */
async function withApi(test: (run: Run, db: Db, clock: FakeClock) => Promise<void>) {
  await using t = await testDatabase();
  // Starts at the real time: rows' created_at is the database's own now().
  const clock = new FakeClock(Math.floor(Date.now() / 60_000) * 60_000);
  const stop = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: stop.signal, onListen: () => {} },
    adminApp({ db: t.db, token: TOKEN, ready: () => ({ ready: true }), clock }).fetch,
  );
  const env = { FERRY_ADMIN_URL: `http://127.0.0.1:${server.addr.port}`, FERRY_ADMIN_TOKEN: TOKEN };
  const run: Run = async (argv, extraEnv = {}) => {
    let stdout = "";
    let stderr = "";
    const code = await main({
      argv,
      env: { ...env, ...extraEnv },
      fetch,
      stdout: (s) => stdout += s,
      stderr: (s) => stderr += s,
      now: () => clock.now(),
    });
    return { code, stdout, stderr };
  };
  try {
    await test(run, t.db, clock);
  } finally {
    stop.abort();
    await server.finished;
  }
}

type Run = (
  argv: string[],
  env?: Record<string, string | undefined>,
) => Promise<{ code: number; stdout: string; stderr: string }>;

Deno.test("main() queue list prints an aligned table, like postqueue -p", async () => {
  await withApi(async (run, db, clock) => {
    assert.deepEqual(await run(["queue", "list"]), {
      code: 0,
      stdout: "Mail queue is empty\n",
      stderr: "",
    });
    const now = new Date(clock.now());
    await insertOutbox(db, {
      from_address: "Shop <orders@shop.test>",
      to_addresses: ["ada@a.test", "bob@b.test"],
      send_at: now,
    });
    await ingestOutbox(db, { now });
    await settleAll(db, now, "deferred", 1);
    const { code, stdout } = await run(["queue", "list"]);
    assert.equal(code, 0);
    const lines = stdout.trimEnd().split("\n");
    assert.match(
      lines[0]!,
      /^MSG +DELIVERY +STATUS +TRIES +AGE +NEXT +SENDER +RECIPIENT +LAST REPLY$/,
    );
    const rows = lines.slice(1, 3);
    assert.equal(rows.length, 2);
    // Columns line up: every row starts its STATUS where the header does.
    const at = lines[0]!.indexOf("STATUS");
    for (const r of rows) assert.match(r.slice(at), /^(queued|deferred) /);
    assert.match(
      stdout,
      /deferred +1 +\d+s +in 10m +Shop <orders@shop\.test> +(ada|bob)@[ab]\.test +deferred by test\n/,
    );
    assert.match(lines.at(-1)!, /^-- 2 deliveries shown; queue: 1 queued, 1 deferred, 0 sending$/);
    const filtered = await run(["queue", "list", "--status", "deferred"]);
    assert.equal(filtered.stdout.trimEnd().split("\n").length, 3);
  });
});

Deno.test("main() queue show, retry and cancel act on one message", async () => {
  await withApi(async (run, db, clock) => {
    const now = new Date(clock.now());
    const id = await insertOutbox(db, { to_addresses: ["ada@a.test"], send_at: now });
    await ingestOutbox(db, { now });
    await settleAll(db, now, "deferred");
    const show = await run(["queue", "show", String(id)]);
    assert.equal(show.code, 0);
    assert.match(show.stdout, new RegExp(`^Message ${id}\\n`));
    assert.match(show.stdout, /#\d+ ada@a\.test {2}deferred {2}attempts 1/);
    assert.match(show.stdout, /deferred {2}mx\.test 451 {2}deferred by test/);

    assert.match(
      (await run(["queue", "retry", String(id)])).stdout,
      /1 deliveries will be tried now/,
    );
    assert.match((await run(["queue", "flush"])).stdout, /Flushed: 0 deferred/);
    assert.match(
      (await run(["queue", "cancel", String(id)])).stdout,
      new RegExp(`Message ${id}: 1 deliveries cancelled`),
    );
    const missing = await run(["queue", "show", "99999"]);
    assert.deepEqual([missing.code, missing.stderr], [
      1,
      "ferry: No message with id 99999 (HTTP 404)\n",
    ]);
    const bad = await run(["queue", "retry", "abc"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /expected a message id/);
  });
});

Deno.test("main() queue cancel ALL goes through the bulk endpoint with progress", async () => {
  await withApi(async (run, db, clock) => {
    const now = new Date(clock.now());
    await insertMany(db, 2500, "a.test", now);
    await insertMany(db, 500, "b.test", now);
    await ingestOutbox(db, { now, limit: 5000 });
    const some = await run(["queue", "cancel", "ALL", "--domain", "b.test", "--batch", "200"]);
    assert.equal(some.code, 0);
    assert.match(
      some.stdout,
      /^cancelled 200\/500 \(40%\)\ncancelled 400\/500 \(80%\)\ncancelled 500\/500 \(100%\)\n/,
    );
    assert.match(some.stdout, /Cancelled 500 deliveries\n$/);
    const all = await run(["queue", "cancel", "ALL"]);
    assert.match(all.stdout, /cancelled 1000\/2500 \(40%\)\n.*\nCancelled 2500 deliveries\n$/s);
    assert.deepEqual(await run(["queue", "cancel", "ALL"]), {
      code: 0,
      stdout: "Nothing to cancel\n",
      stderr: "",
    });
  });
});

Deno.test("main() domain suspend/resume/show and clear errors with exit codes", async () => {
  await withApi(async (run, _db, clock) => {
    const s = await run([
      "domain",
      "suspend",
      "a.test",
      "--minutes",
      "15",
      "--reason",
      "abuse desk",
    ]);
    const until = new Date(clock.now() + 15 * 60_000).toISOString();
    assert.deepEqual(s, {
      code: 0,
      stdout: `Suspended deliveries to a.test until ${until}\n`,
      stderr: "",
    });
    assert.match(
      (await run(["domain", "show", "a.test"])).stdout,
      /suspended {3}until .*abuse desk/,
    );
    assert.match((await run(["domain", "list"])).stdout, /^DOMAIN .*\na\.test .*abuse desk/);
    assert.equal(
      (await run(["domain", "resume", "a.test"])).stdout,
      "Resumed deliveries to a.test\n",
    );
    assert.equal((await run(["domain", "resume", "a.test"])).stdout, "a.test was not suspended\n");

    const noReason = await run(["domain", "suspend", "a.test"]);
    assert.deepEqual([noReason.code, noReason.stderr], [
      2,
      "ferry: missing --reason (why deliveries are suspended)\n",
    ]);
    const badMinutes = await run([
      "domain",
      "suspend",
      "a.test",
      "--minutes",
      "0",
      "--reason",
      "x",
    ]);
    assert.equal(badMinutes.code, 2);
    const usage = await run(["queue", "explode"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /unknown command: queue explode\n\nUsage: ferry/);
    assert.equal((await run(["--help"])).code, 0);
    assert.equal((await run(["queue", "list", "--colour"])).code, 2);
    const denied = await run(["queue", "list"], { FERRY_ADMIN_TOKEN: "wrong-token-wrong" });
    assert.deepEqual([denied.code, denied.stderr], [
      1,
      "ferry: the admin API refused the token: check FERRY_ADMIN_TOKEN\n",
    ]);
    const invalid = await run(["domain", "show", "no_such domain"]);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /Invalid path parameter 'domain'/);
  });
});

Deno.test("main() says clearly when the relay cannot be reached", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close(); // nothing listens there any more
  let stderr = "";
  const code = await main({
    argv: ["queue", "list"],
    env: { FERRY_ADMIN_URL: `http://127.0.0.1:${port}` },
    fetch,
    stdout: () => {},
    stderr: (s) => stderr += s,
  });
  assert.equal(code, 1);
  assert.match(
    stderr,
    new RegExp(`^ferry: cannot reach the admin API at http://127\\.0\\.0\\.1:${port} `),
  );
});
