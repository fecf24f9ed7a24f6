/**
 * The embedded database's memory: the settings in effect are the documented ones (README,
 * docs/configuration.md), and a first start's initdb does not stay in the process's memory.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { openDatabase } from "../../db/client.ts";

/** As documented; literal here so that a change to the code alone fails this test. */
const DOCUMENTED = {
  shared_buffers: "16MB",
  wal_buffers: "1MB",
  work_mem: "4MB",
  maintenance_work_mem: "16MB",
  temp_buffers: "1MB",
};
const REPO = new URL("../../", import.meta.url).pathname;

async function settingsInEffect(dataDir?: string): Promise<Record<string, string>> {
  const database = await openDatabase({ dataDir });
  try {
    const shown: Record<string, string> = {};
    for (const name of Object.keys(DOCUMENTED)) {
      // raw SQL: SHOW takes an identifier, not a parameter.
      const { rows } = await sql<Record<string, string>>`SHOW ${sql.id(name)}`.execute(database.db);
      shown[name] = rows[0]![name]!;
    }
    return shown;
  } finally {
    await database.close();
  }
}

Deno.test("openDatabase() runs PGlite with the documented memory settings", async () => {
  assert.deepEqual(await settingsInEffect(), DOCUMENTED);
});

Deno.test("openDatabase() keeps the documented memory settings on a data directory and its reopening", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(await settingsInEffect(dir), DOCUMENTED, "first start (initdb)");
    assert.deepEqual(await settingsInEffect(dir), DOCUMENTED, "reopened");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openDatabase() on a fresh data directory keeps initdb out of the process's peak RSS", async () => {
  // A process of its own, so the peak (VmHWM) is this open's alone. initdb in process peaks at
  // 600-850 MB (a second PostgreSQL and an initdb module next to the relay's); the open alone
  // stays near 250 MB. 400 MB is between the two with room for allocator and Deno differences.
  const dir = await Deno.makeTempDir();
  try {
    const code = `
      import { openDatabase } from "./db/client.ts";
      const d = await openDatabase({ dataDir: ${JSON.stringify(dir)} });
      await d.close();
      const hwm = /^VmHWM:\\s+(\\d+) kB/m.exec(Deno.readTextFileSync("/proc/self/status"))[1];
      console.log(JSON.stringify({ peakMb: Number(hwm) / 1024 }));`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", code],
      cwd: REPO,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const { peakMb } = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.ok(peakMb < 400, `peak RSS ${Math.round(peakMb)} MB while opening a fresh directory`);
    const reopened = await openDatabase({ dataDir: dir });
    await reopened.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
