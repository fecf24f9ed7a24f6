/**
 * What the relay holds when it runs: the static import graph of relay/main.ts, as `deno info`
 * reports it (a library only some relays use, mailparser for the bounce mailbox, is imported
 * dynamically where it is first needed, so a relay without that feature never holds it), and
 * the V8 heap settings every way of running it shares (`deno task start`, the Dockerfile's
 * compiled binary, the CI smoke test of that binary, the spawned relay of tests and benchmarks).
 */
import assert from "node:assert/strict";
import { startTaskV8Flags } from "../_support/relay_process.ts";

const ROOT = new URL("../../", import.meta.url);

interface Dependency {
  readonly code?: { readonly specifier: string };
  readonly isDynamic?: boolean;
}
interface GraphModule {
  readonly specifier: string;
  readonly dependencies?: readonly Dependency[];
}
interface Graph {
  readonly roots: readonly string[];
  readonly modules: readonly GraphModule[];
  readonly redirects: Readonly<Record<string, string>>;
}

/** The npm packages reachable from the roots through static imports only. */
export function staticNpmPackages(graph: Graph): Set<string> {
  const bySpecifier = new Map(graph.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (specifier: string) => {
    const target = graph.redirects[specifier] ?? specifier;
    if (seen.has(target)) return;
    seen.add(target);
    const npm = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)/.exec(target);
    if (npm) return void packages.add(npm[1]!);
    for (const dep of bySpecifier.get(target)?.dependencies ?? []) {
      if (dep.code && !dep.isDynamic) visit(dep.code.specifier);
    }
  };
  for (const root of graph.roots) visit(root);
  return packages;
}

async function relayGraph(): Promise<Graph> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "relay/main.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("the relay starts without loading mailparser; it is loaded on the first bounce", async () => {
  const packages = await relayGraph().then(staticNpmPackages);
  // The walk sees what the relay does import at start (a walk that found nothing would pass).
  for (const used of ["hono", "kysely", "pg", "nodemailer", "prom-client"]) {
    assert.ok(packages.has(used), `${used} in ${[...packages].join(", ")}`);
  }
  assert.ok(!packages.has("mailparser"), [...packages].join(", "));
});

Deno.test("staticNpmPackages follows static imports and redirects, not dynamic ones", () => {
  const graph: Graph = {
    roots: ["file:///a.ts"],
    redirects: { "npm:x@1": "npm:/x@1", "npm:@s/y@2": "npm:/@s/y@2" },
    modules: [
      {
        specifier: "file:///a.ts",
        dependencies: [
          { code: { specifier: "file:///b.ts" } },
          { code: { specifier: "npm:late@1" }, isDynamic: true },
        ],
      },
      {
        specifier: "file:///b.ts",
        dependencies: [{ code: { specifier: "npm:x@1" } }, { code: { specifier: "npm:@s/y@2" } }],
      },
    ],
  };
  assert.deepEqual([...staticNpmPackages(graph)].sort(), ["@s/y", "x"]);
});

Deno.test("the start task caps the heap's growth, and the Dockerfile compiles the same flags in", async () => {
  const flags = await startTaskV8Flags();
  assert.ok(flags, "deno.json's start task has --v8-flags=");
  assert.match(flags, /--heap-growing-percent=\d+/);
  assert.match(flags, /--max-semi-space-size=\d+/);
  const dockerfile = await Deno.readTextFile(new URL("Dockerfile", ROOT));
  const compile = dockerfile.slice(dockerfile.indexOf("RUN deno compile"));
  const relayCompile = compile.slice(0, compile.indexOf("relay/main.ts"));
  assert.ok(
    relayCompile.includes(` ${flags} `),
    `the Dockerfile compiles relay/main.ts with ${flags}`,
  );
  const smoke = await Deno.readTextFile(new URL(".ci/smoke_compiled.sh", ROOT));
  assert.match(
    smoke,
    /tasks\.start[^\n]*--v8-flags=/,
    "the smoke test compiles with the task's flags",
  );
});
