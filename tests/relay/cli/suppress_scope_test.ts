/** `ferryctl suppress` with `--sender-domain`: scoped entries added, listed and removed. */
import assert from "node:assert/strict";
import { main } from "../../../relay/cli/main.ts";
import { adminApp } from "../../../relay/admin/app.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { testDatabase } from "../../_support/db.ts";

const TOKEN = "cli-token-0123456789";

Deno.test("main() suppress add/list/remove take and show a sender domain", async () => {
  await using t = await testDatabase();
  const stop = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: stop.signal, onListen: () => {} },
    adminApp({ db: t.db, token: TOKEN, ready: () => ({ ready: true }), clock: new FakeClock() })
      .fetch,
  );
  const run = async (argv: string[]) => {
    let stdout = "";
    const code = await main({
      argv,
      env: { FERRY_ADMIN_URL: `http://127.0.0.1:${server.addr.port}`, FERRY_ADMIN_TOKEN: TOKEN },
      fetch,
      stdout: (s) => stdout += s,
      stderr: () => {},
    });
    return { code, stdout };
  };
  try {
    assert.deepEqual(
      await run([
        "suppress",
        "add",
        "ada@x.test",
        "--reason",
        "asked",
        "--sender-domain",
        "news.test",
      ]),
      { code: 0, stdout: "Suppressed ada@x.test for mail from news.test\n" },
    );
    assert.equal((await run(["suppress", "add", "bob@x.test", "--reason", "bounced"])).code, 0);
    const listed = await run(["suppress", "list"]);
    const rows = listed.stdout.trim().split("\n").map((l) => l.split(/\s{2,}/).slice(0, 2));
    assert.deepEqual(rows, [["ADDRESS", "SENDER"], ["ada@x.test", "news.test"], [
      "bob@x.test",
      "all",
    ]]);
    assert.notEqual((await run(["suppress", "remove", "ada@x.test"])).code, 0, "no global entry");
    assert.deepEqual(
      await run(["suppress", "remove", "ada@x.test", "--sender-domain", "news.test"]),
      {
        code: 0,
        stdout: "Removed ada@x.test from the suppression list for mail from news.test\n",
      },
    );
  } finally {
    stop.abort();
    await server.finished;
  }
});
