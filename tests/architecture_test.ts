/**
 * The layout's rules, read from the import lines of every production file (relay/, actors/,
 * db/, lib/). The map below is the design: each folder lists the folders it may import from;
 * any other edge fails, as does any import cycle between files or between folders, a file in a
 * folder the map does not know, a loose file at relay/ other than its entry point, and an import
 * that reaches past a folder's door (its `mod.ts`) into its insides.
 *
 * docs/architecture.md draws the same map.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/**
 * Who may import whom. A key is a folder (or relay/main.ts); a value lists folders, or single
 * files where a folder may use only part of another (the actors' ports).
 */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  // Shared leaves: imported by every layer, importing nothing of Ferry's.
  "lib": [],
  "lib/message": ["lib"],
  // The actors declare their ports and import nothing outside actors/.
  "actors": [],
  // The database knows tables and the message rules, nothing of relay/.
  "db": ["lib", "lib/message"],
  // Protocol libraries: know nothing of queues, tables or actors.
  "relay/tls": ["lib"],
  "relay/smtp": ["lib", "relay/tls"],
  "relay/dns": ["lib"],
  "relay/mime": ["lib", "lib/message"],
  "relay/dkim": ["lib", "relay/mime"],
  "relay/pop3": ["lib", "relay/tls"],
  "relay/bounce_parsing": ["lib"],
  "relay/mta_sts": ["lib"],
  // DANE reads TLSA lookups from dns/ and authenticates over tls/'s chain-exposing upgrade.
  "relay/dane": ["lib", "relay/dns", "relay/tls"],
  // TLS reporting: the deliverer's port, the counters, the report, its sending; DNS through the
  // Resolver port of relay/dns, the report mail's From checked by the address rules.
  "relay/tls_rpt": ["lib", "lib/message", "relay/dns"],
  // Operator surfaces: the database and the ports they use.
  "relay/webhooks": ["lib", "db", "relay/bounce_parsing"],
  "relay/metrics": ["lib", "db", "actors/ports.ts", "relay/webhooks"],
  "relay/admin": [
    "lib",
    "lib/message",
    "db",
    "actors/ports.ts",
    "actors/snapshots.ts",
    "relay/metrics",
  ],
  "relay/cli": ["lib"],
  // The public unsubscribe listener (RFC 8058): its tokens, its app, the database it writes.
  "relay/unsubscribe": ["lib", "db"],
  // Bounce processing: the POP3 mailbox in, the database out, behind one door.
  "relay/bounce_processing": ["lib", "db", "relay/pop3", "relay/bounce_parsing", "relay/mime"],
  // The adapters plug db/ and the protocol libraries into the actors' ports.
  "relay/adapters": [
    "lib",
    "lib/message",
    "db",
    "actors",
    "relay/smtp",
    "relay/tls",
    "relay/dns",
    "relay/mime",
    "relay/dkim",
    "relay/bounce_parsing",
    "relay/mta_sts",
    "relay/dane",
    "relay/tls_rpt",
  ],
  // Configuration: the file's schema, made of each part's own section.
  "relay/config": [
    "lib",
    "relay/bounce_processing",
    "relay/webhooks",
    "relay/metrics",
    "relay/tls_rpt",
    "relay/unsubscribe",
  ],
  // The composition root wires everything.
  "relay/composition": [
    "lib",
    "lib/message",
    "db",
    "actors",
    "relay/adapters",
    "relay/admin",
    "relay/bounce_processing",
    "relay/config",
    "relay/dane",
    "relay/dkim",
    "relay/dns",
    "relay/metrics",
    "relay/mime",
    "relay/mta_sts",
    "relay/tls",
    "relay/tls_rpt",
    "relay/unsubscribe",
    "relay/webhooks",
  ],
  "relay/main.ts": ["lib", "db", "relay/composition", "relay/config"],
};

/** An import graph: file -> the files it imports (paths from the repository root). */
export type Graph = ReadonlyMap<string, readonly string[]>;

/** The map's unit a file belongs to: the longest key that is the file or a folder above it. */
export function unitOf(file: string, allowed = ALLOWED): string | undefined {
  let best: string | undefined;
  for (const key of Object.keys(allowed)) {
    if ((file === key || file.startsWith(`${key}/`)) && (!best || key.length > best.length)) {
      best = key;
    }
  }
  return best;
}

/** Whether `from` may import `target` under `allowed`. */
function permitted(from: string, target: string, allowed: typeof ALLOWED): boolean {
  const a = unitOf(from, allowed);
  const b = unitOf(target, allowed);
  if (a === undefined || b === undefined) return false;
  if (a === b) return true;
  return (allowed[a] ?? []).some((t) => target === t || b === t);
}

/** Every edge the map does not allow, as `from -> target`. */
export function forbiddenEdges(graph: Graph, allowed = ALLOWED): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) {
    for (const target of targets) {
      if (!permitted(from, target, allowed)) out.push(`${from} -> ${target}`);
    }
  }
  return out.sort();
}

/** Strongly connected components with more than one member (or a self-import): the cycles. */
export function cycles(graph: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** The graph between the map's units, from the graph between files. */
export function unitGraph(graph: Graph, allowed = ALLOWED): Graph {
  const units = new Map<string, Set<string>>();
  for (const [from, targets] of graph) {
    const a = unitOf(from, allowed) ?? from;
    const set = units.get(a) ?? units.set(a, new Set()).get(a)!;
    for (const target of targets) {
      const b = unitOf(target, allowed) ?? target;
      if (a !== b) set.add(b);
    }
  }
  return new Map([...units].map(([k, v]) => [k, [...v].sort()]));
}

/** Imports from outside a folder with a `mod.ts` that go past it, as `from -> target`. */
export function pastTheDoor(graph: Graph, hasDoor: (folder: string) => boolean): string[] {
  const dir = (f: string) => f.slice(0, f.lastIndexOf("/"));
  const out: string[] = [];
  for (const [from, targets] of graph) {
    for (const target of targets) {
      const folder = dir(target);
      if (folder === dir(from) || from.startsWith(`${folder}/`)) continue;
      if (hasDoor(folder) && !target.endsWith("/mod.ts")) out.push(`${from} -> ${target}`);
    }
  }
  return out.sort();
}

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(new URL(dir, ROOT))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) yield* sources(path);
    else if (e.name.endsWith(".ts")) yield path;
  }
}

/** Every relative import and re-export of `file`, resolved to a path from the repository root. */
async function importsOf(file: string): Promise<string[]> {
  const text = await Deno.readTextFile(new URL(file, ROOT));
  const specs = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)[^"';]*?from\s*"([^"]+)"/g),
    ...text.matchAll(/(?:^|\n)\s*import\s*"([^"]+)"/g),
    ...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g),
  ].map((m) => m[1]!);
  return [...new Set(specs)].filter((s) => s.startsWith(".")).map((s) =>
    new URL(s, new URL(file, ROOT)).href.slice(ROOT.href.length)
  );
}

async function productionGraph(): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const dir of ["relay", "actors", "db", "lib"]) {
    for await (const file of sources(dir)) graph.set(file, await importsOf(file));
  }
  return graph;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(new URL(path, ROOT));
    return true;
  } catch {
    return false;
  }
}

const graph = await productionGraph();

Deno.test("every production file belongs to a folder the map knows", () => {
  assert.deepEqual([...graph.keys()].filter((f) => unitOf(f) === undefined), []);
});

Deno.test("nothing is loose at relay/ but its entry point", () => {
  const loose = [...graph.keys()].filter((f) => /^relay\/[^/]+$/.test(f));
  assert.deepEqual(loose, ["relay/main.ts"]);
});

Deno.test("every import is an edge the map allows", () => {
  assert.deepEqual(forbiddenEdges(graph), []);
});

Deno.test("no import cycle between files", () => {
  assert.deepEqual(cycles(graph), []);
});

Deno.test("no import cycle between folders", () => {
  assert.deepEqual(cycles(unitGraph(graph)), []);
});

Deno.test("a folder with a mod.ts is entered through it", () => {
  assert.deepEqual(pastTheDoor(graph, (folder) => exists(`${folder}/mod.ts`)), []);
});

Deno.test("the checks catch what they are for (a forbidden edge, a cycle, a side door)", () => {
  const bad: Graph = new Map([
    ["db/queue.ts", ["relay/mime/mod.ts", "lib/clock.ts"]],
    ["relay/mime/mod.ts", ["relay/mime/compose.ts"]],
    ["relay/mime/compose.ts", ["relay/mime/mod.ts"]],
    ["relay/dkim/signer.ts", ["relay/mime/compose.ts"]],
    ["actors/ports.ts", ["actors/supervisor.ts"]],
    ["actors/supervisor.ts", ["actors/ports.ts"]],
    ["lib/clock.ts", []],
  ]);
  assert.deepEqual(forbiddenEdges(bad), ["db/queue.ts -> relay/mime/mod.ts"]);
  assert.deepEqual(cycles(bad), [
    ["actors/ports.ts", "actors/supervisor.ts"],
    ["relay/mime/compose.ts", "relay/mime/mod.ts"],
  ]);
  const folders = unitGraph(
    new Map([
      ["relay/admin/app.ts", ["relay/metrics/mod.ts"]],
      ["relay/metrics/alert_monitor.ts", ["relay/admin/mod.ts"]],
    ]),
  );
  assert.deepEqual(cycles(folders), [["relay/admin", "relay/metrics"]]);
  assert.deepEqual(pastTheDoor(bad, (folder) => folder === "relay/mime"), [
    "relay/dkim/signer.ts -> relay/mime/compose.ts",
  ]);
});
