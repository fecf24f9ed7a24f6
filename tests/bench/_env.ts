/**
 * What every benchmark shares: its database (DATABASE_URL, or a throwaway cluster like the test
 * suite's, durable unless FERRY_BENCH_DURABILITY=fast), the machine's load, and the output: one
 * JSON line per figure, each labelled with its variant when the database is not durable, so an
 * unsafe figure can never pass for the headline.
 *
 * @module
 */
import pg from "pg";
import { type Durability, findPostgresBin, startCluster } from "../_support/postgres_cluster.ts";

/** The label every figure carries when PostgreSQL does not sync its commits. */
export const UNSAFE_VARIANT = "fsync off (unsafe)";

let variant: string | undefined;
const figures: Record<string, unknown>[] = [];

/** The benchmark's database server, and how durable it is (read from the server itself). */
export async function benchServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const durability = requestedDurability();
  const external = Deno.env.get("DATABASE_URL");
  let server: { url: string; stop: () => Promise<void> };
  if (external) {
    server = { url: external, stop: async () => {} };
  } else {
    const bin = findPostgresBin();
    if (!bin) {
      throw new Error("Cannot run the benchmark as no PostgreSQL server or binaries were found");
    }
    server = await startCluster(bin, { durability });
  }
  const settings = await durabilitySettings(server.url);
  // Every synchronous_commit value but "off" waits for the local WAL flush.
  const durable = settings.fsync === "on" && settings.full_page_writes === "on" &&
    settings.synchronous_commit !== "off";
  variant = durable ? undefined : UNSAFE_VARIANT;
  report({
    bench: "env",
    date: new Date().toISOString(),
    cores: navigator.hardwareConcurrency,
    load_avg: loadAverage(),
    deno: Deno.version.deno,
    database: external ? "DATABASE_URL" : "throwaway cluster",
    durable,
    postgres: settings,
    commit: await gitCommit(),
  });
  return server;
}

function requestedDurability(): Durability {
  const v = Deno.env.get("FERRY_BENCH_DURABILITY") ?? "durable";
  if (v !== "durable" && v !== "fast") {
    throw new Error(
      `Cannot start the benchmark as 'FERRY_BENCH_DURABILITY' must be durable or fast: current value is ${v}`,
    );
  }
  return v;
}

async function durabilitySettings(url: string): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const out: Record<string, string> = {};
    for (const name of ["fsync", "synchronous_commit", "full_page_writes"]) {
      out[name] = String((await client.query(`SHOW ${name}`)).rows[0][name]);
    }
    return out;
  } finally {
    await client.end();
  }
}

/** The 1, 5 and 15 minute load averages (/proc/loadavg). */
export function loadAverage(): [number, number, number] {
  const [a, b, c] = Deno.readTextFileSync("/proc/loadavg").split(" ").map(Number);
  return [a ?? 0, b ?? 0, c ?? 0];
}

async function gitCommit(): Promise<string | null> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      cwd: new URL("../../", import.meta.url).pathname,
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

/** One machine-readable figure per line (labelled with the variant, if any); kept for summary. */
export function report(figure: Record<string, unknown>): void {
  const line = variant ? { ...figure, variant } : figure;
  figures.push(line);
  console.log(JSON.stringify(line));
}

/** Every figure reported so far, in order. */
export function reported(): readonly Record<string, unknown>[] {
  return figures;
}
