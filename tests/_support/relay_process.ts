/**
 * The relay as a real process (`deno run -A relay/main.ts`, what `deno task start` runs), for
 * end-to-end tests and benchmarks that need what only a process gives: `kill -9`, peak RSS, CPU
 * time, an own event loop. Its JSON-lines log is read as it comes: events are counted by name,
 * the last lines are kept for failure messages.
 *
 * Also {@link procStats}: a process's memory and CPU time from /proc (Linux).
 *
 * @module
 */

import { freePort } from "./postgres_cluster.ts";

const MAIN = new URL("../../relay/main.ts", import.meta.url).pathname;

/**
 * The `--v8-flags=` of `deno task start` (deno.json), which the Dockerfile's binary is compiled
 * with too: a spawned relay runs with the heap settings production runs with.
 */
export async function startTaskV8Flags(): Promise<string | undefined> {
  const denoJson = JSON.parse(
    await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
  );
  return String(denoJson.tasks.start).split(/\s+/).find((arg) => arg.startsWith("--v8-flags="));
}

export interface RelayProcessOptions {
  /** A PostgreSQL server; without it, the embedded database in `dataDir`. */
  readonly databaseUrl?: string;
  /** `FERRY_DATA_DIR` when `databaseUrl` is unset (the caller removes it). */
  readonly dataDir?: string;
  /** More environment variables (e.g. `FERRY_INSTANCE_ID`). */
  readonly env?: Readonly<Record<string, string>>;
  /** `FERRY_ROUTES`, e.g. `*=127.0.0.1:2525`. */
  readonly routes: string;
  /** The `FERRY_CONFIG` JSON; written to a temp file for the process. */
  readonly config?: Record<string, unknown>;
  /** `FERRY_ADMIN_LISTEN` port on 127.0.0.1; default: a free one. */
  readonly adminPort?: number;
  /**
   * Extra `deno run` flags before the script (e.g. `--inspect=127.0.0.1:0`). A `--v8-flags=` here
   * replaces the start task's (a labelled variant); without one the relay runs with the task's.
   */
  readonly denoFlags?: readonly string[];
  /** Sees every line the process writes (e.g. the inspector's URL on stderr). */
  readonly onLine?: (line: string, stream: "stdout" | "stderr") => void;
}

export interface RelayProcess extends AsyncDisposable {
  readonly pid: number;
  /** `http://127.0.0.1:port` of its admin server. */
  readonly adminUrl: string;
  /** How many times each log event was seen so far. */
  readonly events: ReadonlyMap<string, number>;
  /** Waits (bounded by `ms` of real time) until the process logged `relay.started`. */
  started(ms?: number): Promise<void>;
  /** SIGKILL, then waits for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM, then waits for the exit; resolves to the exit code. */
  stop(): Promise<number>;
  /** The last log lines (stdout and stderr), for failure messages. */
  tail(): string;
}

async function relayDenoFlags(extra: readonly string[]): Promise<string[]> {
  if (extra.some((f) => f.startsWith("--v8-flags="))) return [...extra];
  const v8 = await startTaskV8Flags();
  return [...(v8 ? [v8] : []), ...extra];
}

/** Spawns the relay; the caller stops it (`stop`, `kill9` or `await using`). */
export async function spawnRelay(o: RelayProcessOptions): Promise<RelayProcess> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-relay-" });
  const configFile = `${dir}/ferry.json`;
  await Deno.writeTextFile(configFile, JSON.stringify(o.config ?? {}));
  const adminPort = o.adminPort ?? freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", ...(await relayDenoFlags(o.denoFlags ?? [])), MAIN],
    cwd: dir,
    env: {
      ...(o.databaseUrl ? { DATABASE_URL: o.databaseUrl } : { FERRY_DATA_DIR: o.dataDir ?? dir }),
      ...o.env,
      FERRY_ROUTES: o.routes,
      FERRY_CONFIG: configFile,
      FERRY_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
      FERRY_ADMIN_TOKEN: "relay-process-token-0123456789",
      FERRY_HOSTNAME: "relay.test",
      NO_COLOR: "1",
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? dir,
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const events = new Map<string, number>();
  const lines: string[] = [];
  const keep = (line: string) => {
    lines.push(line);
    if (lines.length > 40) lines.shift();
  };
  let onStarted: (() => void) | undefined;
  const read = Promise.all([
    readLines(child.stdout, (line) => {
      keep(line);
      o.onLine?.(line, "stdout");
      let event: unknown;
      try {
        event = JSON.parse(line).event;
      } catch {
        return;
      }
      if (typeof event !== "string") return;
      events.set(event, (events.get(event) ?? 0) + 1);
      if (event === "relay.started") onStarted?.();
    }),
    readLines(child.stderr, (line) => {
      keep(line);
      o.onLine?.(line, "stderr");
    }),
  ]);
  let exited: Deno.CommandStatus | undefined;
  const status = child.status.then(async (s) => {
    exited = s;
    await read;
    onStarted?.();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    return s;
  });
  const tail = () => lines.join("\n");
  const exitedAs = () => (exited ? `exit ${exited.code}` : undefined);
  const signal = async (sig: Deno.Signal) => {
    if (!exited) {
      try {
        child.kill(sig);
      } catch {
        // Already gone.
      }
    }
    return await status;
  };
  return {
    pid: child.pid,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    events,
    async started(ms = 60_000) {
      if (events.has("relay.started")) return;
      if (exited) throw new Error(`Cannot use the relay process as it exited:\n${tail()}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        onStarted = resolve;
        timer = setTimeout(resolve, ms);
      });
      clearTimeout(timer);
      if (!events.has("relay.started")) {
        throw new Error(
          `Cannot use the relay process as it did not log relay.started ` +
            `(${exitedAs() ?? `waited ${ms} ms`}):\n${tail()}`,
        );
      }
    },
    async kill9() {
      await signal("SIGKILL");
    },
    async stop() {
      return (await signal("SIGTERM")).code;
    },
    tail,
    async [Symbol.asyncDispose]() {
      await signal("SIGKILL");
    },
  };
}

async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    for (const p of parts) if (p) onLine(p);
  }
  if (rest) onLine(rest);
}

/** A process's memory and CPU, from /proc. */
export interface ProcStats {
  /** Resident set size now, and its peak (VmHWM), in bytes. */
  readonly rss: number;
  readonly peakRss: number;
  /** CPU seconds (user + system) of the process itself. */
  readonly cpu: number;
  /** CPU seconds of its children that exited and were waited for. */
  readonly childrenCpu: number;
}

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux architecture Deno runs on.

/** Reads /proc/<pid>/status and /proc/<pid>/stat; undefined when the process is gone. */
export function procStats(pid: number): ProcStats | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kb = (key: string) =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
    const f = statFields(pid);
    if (!f) return undefined;
    return {
      rss: kb("VmRSS"),
      peakRss: kb("VmHWM"),
      cpu: (f[13]! + f[14]!) / TICKS_PER_SECOND,
      childrenCpu: (f[15]! + f[16]!) / TICKS_PER_SECOND,
    };
  } catch {
    return undefined;
  }
}

/** The numeric fields of /proc/<pid>/stat, 0-based as in proc(5) minus one (field 14 is [13]). */
function statFields(pid: number): number[] | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
  const close = text.lastIndexOf(")");
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state); put fields back at their proc(5) positions minus one.
  return [Number(text.slice(0, text.indexOf(" "))), 0, 0, ...rest.slice(1).map(Number)];
}

/**
 * CPU seconds used by a process tree rooted at `root`: the root, its live descendants, and the
 * children that already exited (counted in their parent's cutime/cstime once reaped). Deltas
 * of this across a run give the tree's CPU over the run.
 */
export function treeCpu(root: number): number {
  const parents = new Map<number, number>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const f = statFields(Number(e.name));
    if (f) parents.set(Number(e.name), f[3]!);
  }
  let total = 0;
  const visit = (pid: number) => {
    const s = procStats(pid);
    if (s) total += s.cpu + s.childrenCpu;
    for (const [child, parent] of parents) if (parent === pid) visit(child);
  };
  visit(root);
  return total;
}

/** The parent of a process (e.g. a PostgreSQL backend's postmaster), if it still runs. */
export function parentOf(pid: number): number | undefined {
  return statFields(pid)?.[3];
}

/** Busy and total CPU seconds of the whole machine since boot (/proc/stat), for load figures. */
export function machineCpu(): { busy: number; total: number } {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
}
