/**
 * The layout's rules (STYLE.md), read from the import lines: actors/ declares its ports and
 * imports nothing from relay/ or db/; the protocol libraries never reach into actors/, db/ or
 * the admin app.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(new URL(dir, ROOT))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) yield* sources(path);
    else if (e.name.endsWith(".ts")) yield path;
  }
}

/** Every relative import of `file`, resolved to a path from the repository root. */
async function importsOf(file: string): Promise<string[]> {
  const text = await Deno.readTextFile(new URL(file, ROOT));
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^"';]*?from\s*"([^"]+)"/g)]
    .map((m) => m[1]!);
  return specs.filter((s) => s.startsWith(".")).map((s) =>
    new URL(s, new URL(file, ROOT)).href.slice(ROOT.href.length)
  );
}

async function forbidden(dirs: string[], banned: RegExp): Promise<string[]> {
  const out: string[] = [];
  for (const dir of dirs) {
    for await (const file of sources(dir)) {
      for (const target of await importsOf(file)) {
        if (banned.test(target)) out.push(`${file} imports ${target}`);
      }
    }
  }
  return out.sort();
}

Deno.test("actors/ imports nothing from relay/ or db/", async () => {
  assert.deepEqual(await forbidden(["actors"], /^(relay|db)\//), []);
});

Deno.test("relay's protocol libraries never import actors/, db/ or relay/admin", async () => {
  const protocols = ["smtp", "dns", "tls", "dkim", "mime", "pop3"].map((d) => `relay/${d}`);
  assert.deepEqual(await forbidden(protocols, /^(actors|db|relay\/admin)\//), []);
});
