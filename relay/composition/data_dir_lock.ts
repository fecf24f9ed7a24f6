/**
 * One process per embedded data directory. PGlite is a single-user PostgreSQL: two processes on
 * one directory both write its files and corrupt it. So before PGlite opens the directory, the
 * relay takes an exclusive OS lock (flock) on `ferry.lock` inside it; the kernel drops the lock
 * when its holder exits, however it exits (kill -9 included), so it can never be left stuck.
 * The file also holds the holder's pid, for the message the second process prints.
 *
 * @module
 */
import { StartupError } from "./startup_error.ts";

export interface DataDirLock extends Disposable {
  readonly path: string;
}

export const LOCK_FILE = "ferry.lock";

/** Takes the lock or throws a {@link StartupError} naming FERRY_DATA_DIR. */
export async function lockDataDir(dir: string, pid = Deno.pid): Promise<DataDirLock> {
  const path = `${dir.replace(/\/+$/, "")}/${LOCK_FILE}`;
  let file: Deno.FsFile;
  try {
    await Deno.mkdir(dir, { recursive: true });
    file = await Deno.open(path, { read: true, write: true, create: true });
  } catch (err) {
    throw new StartupError(
      "FERRY_DATA_DIR",
      `FERRY_DATA_DIR ${dir} is not writable: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!(await file.tryLock(true))) {
    const holder = await readHolder(file);
    file.close();
    throw new StartupError(
      "FERRY_DATA_DIR",
      `FERRY_DATA_DIR ${dir} is in use by another Ferry process (pid ${holder ?? "unknown"})`,
    );
  }
  await file.truncate(0);
  await file.seek(0, Deno.SeekMode.Start);
  await file.write(new TextEncoder().encode(`${pid}\n`));
  return {
    path,
    [Symbol.dispose]() {
      try {
        file.unlockSync();
      } finally {
        file.close();
      }
    },
  };
}

async function readHolder(file: Deno.FsFile): Promise<number | undefined> {
  const buf = new Uint8Array(32);
  const n = await file.read(buf);
  const pid = Number(new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}
