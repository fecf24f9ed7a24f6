/**
 * A CPU profile of a running Deno process through its inspector (started with
 * `--inspect=127.0.0.1:0`, which prints "Debugger listening on ws://..."): the V8 sampling
 * profiler over the Chrome DevTools Protocol for a while, summarised as self time per function
 * and per source file. Deno has no `--cpu-prof`; this is the same profile.
 *
 * @module
 */

export interface ProfileEntry {
  /** `function (file:line)`, or a file for the per-file summary. */
  readonly name: string;
  /** Share of all samples, in percent. */
  readonly selfPct: number;
}

export interface ProfileSummary {
  readonly seconds: number;
  readonly samples: number;
  /** Share of samples where the process waited (I/O, timers): not in the lists below. */
  readonly idlePct: number;
  readonly functions: readonly ProfileEntry[];
  readonly files: readonly ProfileEntry[];
  /** For the top functions: where their samples came from (three nearest callers). */
  readonly callers: readonly { readonly name: string; readonly via: readonly ProfileEntry[] }[];
}

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  startTime: number;
  endTime: number;
}

/** The inspector's WebSocket URL from a line of the process's stderr, if the line has it. */
export function inspectorUrl(line: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(line)?.[1];
}

/** Samples the process behind `wsUrl` for `ms` of real time and summarises the profile. */
export async function profileCpu(wsUrl: string, ms: number, top = 15): Promise<ProfileSummary> {
  const ws = new WebSocket(wsUrl);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`Cannot connect to the inspector at ${wsUrl}`));
  });
  let nextId = 0;
  const pending = new Map<number, (result: unknown) => void>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(String(e.data));
    if (typeof msg.id === "number") pending.get(msg.id)?.(msg.result ?? msg.error);
  };
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve) => {
      const id = ++nextId;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    await call("Profiler.enable");
    await call("Profiler.setSamplingInterval", { interval: 1000 });
    await call("Profiler.start");
    await new Promise((r) => setTimeout(r, ms));
    const { profile } = await call("Profiler.stop") as { profile: Profile };
    await call("Profiler.disable");
    return summarise(profile, top);
  } finally {
    const closed = new Promise((r) => (ws.onclose = r));
    ws.close();
    await closed;
  }
}

function summarise(profile: Profile, top: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const fileOf = (f: CallFrame) => shortUrl(f.url) || `(${f.functionName || "native"})`;
  // V8's pseudo-frames ("(garbage collector)", "(program)") and native ops have no source.
  const nameOf = (f: CallFrame) =>
    f.url
      ? `${f.functionName || "(anonymous)"} (${fileOf(f)}:${f.lineNumber + 1})`
      : f.functionName.startsWith("(")
      ? f.functionName
      : `${f.functionName || "(anonymous)"} (native)`;
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  const stacks = new Map<string, Map<string, number>>();
  let idle = 0;
  for (const id of profile.samples) {
    const f = byId.get(id);
    if (!f) continue;
    if (f.functionName === "(idle)") {
      idle++;
      continue;
    }
    const fn = nameOf(f);
    fns.set(fn, (fns.get(fn) ?? 0) + 1);
    files.set(fileOf(f), (files.get(fileOf(f)) ?? 0) + 1);
    const via: string[] = [];
    for (let p = parent.get(id); p !== undefined && via.length < 3; p = parent.get(p)) {
      via.push(byId.get(p)!.functionName || "(anonymous)");
    }
    const m = stacks.get(fn) ?? new Map<string, number>();
    stacks.set(fn, m);
    const key = via.join(" < ");
    m.set(key, (m.get(key) ?? 0) + 1);
  }
  const total = profile.samples.length || 1;
  const rank = (m: Map<string, number>, n = top) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n)
      .map(([name, k]) => ({ name, selfPct: Number((100 * k / total).toFixed(1)) }));
  const functions = rank(fns);
  return {
    seconds: Number(((profile.endTime - profile.startTime) / 1e6).toFixed(1)),
    samples: profile.samples.length,
    idlePct: Number((100 * idle / total).toFixed(1)),
    functions,
    files: rank(files),
    callers: functions.slice(0, 8).map((f) => ({
      name: f.name,
      via: rank(stacks.get(f.name)!, 3),
    })),
  };
}

/** `file:///work/main/relay/smtp/channel.ts` → `relay/smtp/channel.ts`; npm paths shortened. */
function shortUrl(url: string): string {
  const npm = /\/npm\/[^/]+\/(.+)$/.exec(url);
  if (npm) return `npm:${npm[1]}`;
  const repo = new URL("../../", import.meta.url).href;
  return url.startsWith(repo) ? url.slice(repo.length) : url;
}
