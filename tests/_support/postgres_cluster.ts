/**
 * A throwaway PostgreSQL cluster for the test suite: initdb into a temp dir, started on a free
 * loopback port with durability off (tests never need it), removed afterwards. Used by
 * tests/run.ts when DATABASE_URL is unset and PostgreSQL binaries exist, and by benchmarks.
 *
 * @module
 */

export interface Cluster {
  readonly url: string;
  /** Stops the server (fast shutdown: sessions are terminated), keeping its data. */
  pause(): Promise<void>;
  /** Starts it again on the same port and data. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/** The directory of initdb/pg_ctl: PATH first, then the newest /usr/lib/postgresql/N/bin. */
export function findPostgresBin(): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && exists(`${dir}/initdb`) && exists(`${dir}/pg_ctl`)) return dir;
  }
  try {
    const versions = [...Deno.readDirSync("/usr/lib/postgresql")]
      .map((e) => e.name).filter((n) => /^\d+$/.test(n)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const dir = `/usr/lib/postgresql/${v}/bin`;
      if (exists(`${dir}/initdb`)) return dir;
    }
  } catch { /* no such directory */ }
  return undefined;
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** A free TCP port on 127.0.0.1 (bind to 0, read, close). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function run(cmd: string[], user?: string): Promise<void> {
  const argv = user ? ["runuser", "-u", user, "--", ...cmd] : cmd;
  const out = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`Cannot run ${cmd[0]} as it failed: ${text.trim()}`);
  }
}

/**
 * How the cluster trades durability for speed. `durable` is PostgreSQL at its defaults (fsync,
 * synchronous_commit and full_page_writes on), as a user runs it: what benchmarks measure.
 * `fast` turns the three off: only for the test suite, whose figures are never reported.
 */
export type Durability = "durable" | "fast";

/**
 * Starts a cluster. As root, the server runs as the `postgres` user (or `nobody`). The test suite
 * passes `fast`; the default is `durable`.
 */
export async function startCluster(
  bin: string,
  options: { durability?: Durability } = {},
): Promise<Cluster> {
  const durability = options.durability ?? "durable";
  const dir = await Deno.makeTempDir({ prefix: "ferry-pg-" });
  let user: string | undefined;
  if (Deno.uid() === 0) {
    user = (await hasUser("postgres")) ? "postgres" : "nobody";
    await Deno.chmod(dir, 0o777);
  }
  const data = `${dir}/data`;
  const port = freePort();
  await run([
    `${bin}/initdb`,
    "-D",
    data,
    "-U",
    "postgres",
    "--auth=trust",
    "-E",
    "UTF8",
    ...(durability === "fast" ? ["--no-sync"] : []),
  ], user);
  const opts = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    // Only the connection limit differs from PostgreSQL's defaults when durable: test peers and
    // several relay processes together need more than the default 100.
    "-c max_connections=200",
    ...(durability === "fast"
      ? [
        "-c fsync=off",
        "-c synchronous_commit=off",
        "-c full_page_writes=off",
        "-c shared_buffers=256MB",
      ]
      : []),
  ].join(" ");
  const start = () =>
    run([`${bin}/pg_ctl`, "-D", data, "-l", `${dir}/log`, "-o", opts, "-w", "start"], user);
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    pause: () => run([`${bin}/pg_ctl`, "-D", data, "-m", "fast", "-w", "stop"], user),
    resume: start,
    async stop() {
      try {
        await run([`${bin}/pg_ctl`, "-D", data, "-m", "immediate", "-w", "stop"], user)
          .catch(() => {/* already paused */});
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  };
}

async function hasUser(name: string): Promise<boolean> {
  const out = await new Deno.Command("id", { args: ["-u", name], stdout: "null", stderr: "null" })
    .output();
  return out.success;
}
