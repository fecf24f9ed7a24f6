import assert from "node:assert/strict";
import { main } from "../../../relay/cli/main.ts";
import { adminApp } from "../../../relay/admin/app.ts";
import { listAudit } from "../../../db/audit.ts";
import type { Db } from "../../../db/client.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { testDatabase } from "../../_support/db.ts";

const BOOTSTRAP = "cli-token-0123456789";

type Run = (
  argv: string[],
  token?: string,
) => Promise<{ code: number; stdout: string; stderr: string }>;

/** A relay's admin API on a free port, and a way to run the CLI against it with a token. */
async function withApi(test: (run: Run, db: Db) => Promise<void>) {
  await using t = await testDatabase();
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const stop = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: stop.signal, onListen: () => {} },
    adminApp({ db: t.db, token: BOOTSTRAP, ready: () => ({ ready: true }), clock }).fetch,
  );
  const run: Run = async (argv, token = BOOTSTRAP) => {
    let stdout = "";
    let stderr = "";
    const code = await main({
      argv,
      env: { FERRY_ADMIN_URL: `http://127.0.0.1:${server.addr.port}`, FERRY_ADMIN_TOKEN: token },
      fetch,
      stdout: (s) => stdout += s,
      stderr: (s) => stderr += s,
      now: () => clock.now(),
    });
    return { code, stdout, stderr };
  };
  try {
    await test(run, t.db);
  } finally {
    stop.abort();
    await server.finished;
  }
}

const TOKEN = /^fy_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/m;

Deno.test("main() keys create prints the token once; the key works within its scopes", async () => {
  await withApi(async (run, db) => {
    const created = await run(["keys", "create", "ci", "--scopes", "read,send"]);
    assert.equal(created.code, 0, created.stderr);
    const token = TOKEN.exec(created.stdout)?.[0];
    assert.ok(token, created.stdout);
    assert.match(created.stdout, /^Created key ci with scopes read,send\.\n.*shown this once/);

    const list = await run(["queue", "list"], token);
    assert.deepEqual(list, { code: 0, stdout: "Mail queue is empty\n", stderr: "" });
    const denied = await run(
      ["domain", "suspend", "x.test", "--minutes", "5", "--reason", "t"],
      token,
    );
    assert.equal(denied.code, 1);
    assert.equal(
      denied.stderr,
      "ferry: API key 'ci' lacks the 'operate' scope this route needs (HTTP 403)\n",
    );
    const keys = await run(["keys", "list"], token);
    assert.equal(keys.code, 1);
    assert.match(keys.stderr, /lacks the 'admin' scope/);

    // What an operator key does is recorded under its name.
    const ops = TOKEN.exec((await run(["keys", "create", "ops", "--scopes=operate"])).stdout)![0];
    const suspended = await run(
      ["domain", "suspend", "x.test", "--minutes", "5", "--reason", "spam wave"],
      ops,
    );
    assert.equal(suspended.code, 0, suspended.stderr);
    const audit = await listAudit(db, { limit: 10 });
    assert.deepEqual(audit.rows.map((r) => [r.actor, r.action, r.target]), [
      ["ops", "suspend", "x.test"],
      ["bootstrap", "key.create", "ops"],
      ["bootstrap", "key.create", "ci"],
    ]);
  });
});

Deno.test("main() keys list shows every key without its token; keys revoke shuts it out", async () => {
  await withApi(async (run) => {
    assert.deepEqual(await run(["keys", "list"]), {
      code: 0,
      stdout: "No API key (FERRY_ADMIN_TOKEN works alone)\n",
      stderr: "",
    });
    const token = TOKEN.exec((await run(["keys", "create", "ci", "--scopes", "read"])).stdout)![0];
    await run(["keys", "create", "root", "--scopes", "admin"]);
    await run(["queue", "list"], token);

    const { code, stdout } = await run(["keys", "list"]);
    assert.equal(code, 0);
    const lines = stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^NAME +SCOPES +PREFIX +CREATED +LAST USED +REVOKED$/);
    assert.match(
      lines[1]!,
      new RegExp(
        `^ci +read +${token.slice(0, 19)} +2030-01-01T00:00:00.000Z +2030-01-01T00:00:00.000Z$`,
      ),
    );
    assert.match(lines[2]!, /^root +admin +fy_[0-9a-f]{16} +\S+ +never$/);
    assert.ok(!stdout.includes(token.slice(20)), "no secret in the list");

    const revoked = await run(["keys", "revoke", "ci"]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /^Revoked key ci \(since 2030-01-01T00:00:00.000Z\)/);
    assert.match((await run(["keys", "list"])).stdout, /\nci +read +.* 2030-01-01T00:00:00.000Z\n/);
    assert.deepEqual(await run(["queue", "list"], token), {
      code: 1,
      stdout: "",
      stderr:
        "ferry: the admin API refused the token (API key 'ci' was revoked): check FERRY_ADMIN_TOKEN\n",
    });
    const unknown = await run(["keys", "revoke", "nobody"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /No API key named 'nobody' \(HTTP 404\)/);
  });
});

Deno.test("main() keys: usage errors exit 2, refused names exit 1", async () => {
  await withApi(async (run) => {
    const noScopes = await run(["keys", "create", "ci"]);
    assert.equal(noScopes.code, 2);
    assert.match(noScopes.stderr, /missing --scopes/);
    const noName = await run(["keys", "create"]);
    assert.equal(noName.code, 2);
    assert.match(noName.stderr, /missing key name/);
    assert.equal((await run(["keys", "revoke"])).code, 2);
    const bad = await run(["keys", "create", "ci", "--scopes", "read,root"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Invalid body field 'scopes.1'/);
    const reserved = await run(["keys", "create", "bootstrap", "--scopes", "read"]);
    assert.equal(reserved.code, 1);
    assert.match(reserved.stderr, /FERRY_ADMIN_TOKEN's name/);
    assert.match((await run(["--help"])).stdout, /keys create NAME --scopes read,send/);
  });
});
