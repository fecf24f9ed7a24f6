/**
 * What a new user sees when a resource is not there: one line naming the setting, exit code 1,
 * no stack trace. And one process per embedded data directory: a second start is refused at once,
 * and the lock dies with its holder (kill -9 never leaves it stuck).
 */
import assert from "node:assert/strict";
import { freePort } from "../_support/postgres_cluster.ts";
import { spawnRelay } from "../_support/relay_process.ts";

const MAIN = new URL("../../relay/main.ts", import.meta.url).pathname;

async function start(env: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "ferry-start-" });
  try {
    const began = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN],
      cwd: dir,
      env: {
        PATH: Deno.env.get("PATH") ?? "",
        HOME: Deno.env.get("HOME") ?? dir,
        ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
        NO_COLOR: "1",
        FERRY_DATA_DIR: `${dir}/data`,
        FERRY_ADMIN_LISTEN: `127.0.0.1:${freePort()}`,
        FERRY_ADMIN_TOKEN: "t0123456789abcdef",
        ...env,
      },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    return { code: out.code, stderr, seconds: (performance.now() - began) / 1000 };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.split("\n").filter((l) =>
    l.startsWith("ferry: ") && !/admin API on/.test(l)
  );
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
}

Deno.test("relay start with the admin port in use names FERRY_ADMIN_LISTEN and exits 1", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  const r = await start({ FERRY_ADMIN_LISTEN: `127.0.0.1:${port}` });
  assert.equal(r.code, 1, r.stderr);
  assertOneLine(
    r.stderr,
    new RegExp(`FERRY_ADMIN_LISTEN 127\\.0\\.0\\.1:${port} .*address already in use`),
  );
});

Deno.test("relay start with an unreadable FERRY_CONFIG names it and exits 1", async () => {
  const r = await start({ FERRY_CONFIG: "/nonexistent/ferry.json" });
  assert.equal(r.code, 1, r.stderr);
  assertOneLine(r.stderr, /FERRY_CONFIG: cannot read \/nonexistent\/ferry\.json/);
});

Deno.test("relay start with a data directory it cannot create names FERRY_DATA_DIR and exits 1", async () => {
  // Root ignores permission bits, so "not writable" is a path whose parent is a regular file.
  const file = await Deno.makeTempFile();
  try {
    const r = await start({ FERRY_DATA_DIR: `${file}/data` });
    assert.equal(r.code, 1, r.stderr);
    assertOneLine(r.stderr, new RegExp(`FERRY_DATA_DIR ${file}/data is not writable`));
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("a second relay on one embedded data directory exits 1 at once; the lock dies with kill -9", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "ferry-lock-" });
  try {
    const first = await spawnRelay({ dataDir, routes: "*=127.0.0.1:9" });
    try {
      await first.started();
      const second = await start({ FERRY_DATA_DIR: dataDir });
      assert.equal(second.code, 1, second.stderr);
      assertOneLine(
        second.stderr,
        new RegExp(
          `FERRY_DATA_DIR ${dataDir} is in use by another Ferry process \\(pid ${first.pid}\\)`,
        ),
      );
      console.log(`second process refused in ${second.seconds.toFixed(2)} s`);
      assert.ok(second.seconds < 10, `${second.seconds} s`);
    } finally {
      await first.kill9();
    }
    const third = await spawnRelay({ dataDir, routes: "*=127.0.0.1:9" });
    try {
      await third.started();
    } finally {
      assert.equal(await third.stop(), 0, third.tail());
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
