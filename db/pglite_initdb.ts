/**
 * Creates a fresh PGlite data directory, then exits: `deno run db/pglite_initdb.ts <dir>`, run by
 * {@link ../db/client.ts} as a child process on the first start.
 *
 * PGlite's initdb runs a second, in-memory PostgreSQL next to an initdb WebAssembly module and
 * copies the result into the directory. In the relay's own process that costs ~400 MB at once,
 * and most of it stays: WebAssembly memories are freed only when the garbage collector gets to
 * them, which an idle relay rarely asks for, and the allocator keeps what it got back. In a child
 * the operating system takes all of it back when the child exits.
 *
 * @module
 */
import { PGlite } from "@electric-sql/pglite";
import { pgliteStartParams } from "./pglite_settings.ts";

if (import.meta.main) {
  const dir = Deno.args[0];
  if (!dir) throw new Error("Cannot create a PGlite data directory as no path was given");
  const pglite = await PGlite.create(dir, { startParams: pgliteStartParams() });
  await pglite.close();
}
