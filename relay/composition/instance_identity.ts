/**
 * Who this instance is, across restarts. Leases carry their holder's name; an instance that knows
 * it held a lease before a crash can take that work back at once instead of waiting for the lease
 * to run out (only the holder can know it is gone). So the name must be stable and unique:
 *
 * - `FERRY_INSTANCE_ID` when set (one per instance sharing a database, e.g. a StatefulSet pod's
 *   name);
 * - with the embedded database, an id kept in the data directory, which only one process can hold
 *   at a time (its lock);
 * - otherwise a name of this process alone (host, pid, random): others reap its leases when they
 *   expire, as before.
 *
 * @module
 */
import { StartupError } from "./startup_error.ts";

export interface InstanceIdentity {
  readonly id: string;
  /** True when a restart keeps the id (so it may reclaim its own leases at start). */
  readonly stable: boolean;
}

const ID_FILE = "instance-id";

export async function instanceIdentity(o: {
  explicit?: string | undefined;
  dataDir?: string | undefined;
  hostname: string;
  pid: number;
}): Promise<InstanceIdentity> {
  const explicit = o.explicit?.trim();
  if (explicit) {
    if (!/^[\x21-\x7e]{1,200}$/.test(explicit)) {
      throw new StartupError(
        "FERRY_INSTANCE_ID",
        "Invalid configuration FERRY_INSTANCE_ID: 1 to 200 printable ASCII characters, no spaces",
      );
    }
    return { id: explicit, stable: true };
  }
  if (o.dataDir) {
    const path = `${o.dataDir.replace(/\/+$/, "")}/${ID_FILE}`;
    try {
      const kept = (await Deno.readTextFile(path)).trim();
      if (kept) return { id: kept, stable: true };
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw dirError(o.dataDir, err);
    }
    const id = `embedded:${crypto.randomUUID()}`;
    try {
      await Deno.writeTextFile(path, `${id}\n`);
    } catch (err) {
      throw dirError(o.dataDir, err);
    }
    return { id, stable: true };
  }
  return { id: `${o.hostname}:${o.pid}:${crypto.randomUUID().slice(0, 8)}`, stable: false };
}

function dirError(dir: string, err: unknown): StartupError {
  return new StartupError(
    "FERRY_DATA_DIR",
    `FERRY_DATA_DIR ${dir} is not writable: ${(err as Error).message}`,
    { cause: err },
  );
}
