/**
 * `deno task test`: runs the whole suite against a real PostgreSQL.
 *
 * - DATABASE_URL set: that server is used (the role needs CREATEDB: each test makes its own
 *   database).
 * - otherwise, where PostgreSQL binaries exist (PATH or /usr/lib/postgresql/N/bin): a throwaway
 *   cluster in a temp dir on a free port, removed afterwards.
 * - otherwise: PGlite, and the tests that need a real server are reported as ignored, by name.
 *
 * Extra arguments are passed to `deno test` (e.g. a file or `--filter`).
 */
import { findPostgresBin, startCluster } from "./_support/postgres_cluster.ts";

const env: Record<string, string> = {};
let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;
if (!Deno.env.get("DATABASE_URL")) {
  const bin = findPostgresBin();
  if (bin) {
    cluster = await startCluster(bin, { durability: "fast" });
    env.DATABASE_URL = cluster.url;
    console.log(`tests: throwaway PostgreSQL cluster from ${bin} at ${cluster.url}`);
  } else {
    env.FERRY_TEST_BACKEND = "pglite";
    console.log(
      "tests: no PostgreSQL found: running on PGlite; tests needing a server are ignored",
    );
  }
} else {
  console.log("tests: using DATABASE_URL");
}

const args = Deno.args.length > 0 ? Deno.args : ["tests/"];
let code = 1;
try {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", ...args],
    env,
    stdin: "null",
  }).spawn();
  const stop = () => child.kill("SIGTERM");
  Deno.addSignalListener("SIGINT", stop);
  code = (await child.status).code;
  Deno.removeSignalListener("SIGINT", stop);
} finally {
  await cluster?.stop();
}
Deno.exit(code);
