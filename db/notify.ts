/**
 * LISTEN/NOTIFY wake-up. A statement-level trigger on ferry.outbox NOTIFYs (one notification per
 * INSERT statement, not per row, no payload) and a dedicated connection LISTENs. A NOTIFY issued
 * inside the application's transaction takes a database-wide lock at commit and serialises every
 * committing transaction that notified, and it never fires for a future `send_at`; so polling
 * stays underneath and NOTIFY only cuts its waits short: a notification that never arrives (the
 * connection was down, the trigger is off) delays a row until the next poll, it never strands it.
 *
 * @module
 */
import { sql } from "kysely";
import pg from "pg";
import type { Clock } from "../lib/clock.ts";
import type { Db } from "./client.ts";

export const NOTIFY_CHANNEL = "ferry_outbox";

/** Installs (or removes) the statement-level NOTIFY trigger on ferry.outbox. */
export async function setNotifyTrigger(db: Db, enabled: boolean): Promise<void> {
  if (!enabled) {
    // raw SQL: DDL
    await sql.raw(`DROP TRIGGER IF EXISTS outbox_notify ON ferry.outbox`).execute(db);
    return;
  }
  // raw SQL: DDL and a plpgsql function body
  await sql.raw(`
    CREATE OR REPLACE FUNCTION ferry.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_notify('${NOTIFY_CHANNEL}', ''); RETURN NULL; END $$;
    CREATE OR REPLACE TRIGGER outbox_notify AFTER INSERT ON ferry.outbox
      FOR EACH STATEMENT EXECUTE FUNCTION ferry.outbox_notify();`).execute(db);
}

export interface ListenOptions {
  readonly clock: Clock;
  /** The wait before connecting again after the connection was lost or refused. */
  readonly retryMs: number;
  /** Told why the connection was lost or could not be opened (each time). */
  readonly onError?: (err: unknown) => void;
}

/**
 * LISTENs on a dedicated connection until `signal` aborts; calls `onNotify` per notification.
 * A lost connection (the server restarted, the network broke) is opened again after `retryMs`,
 * for as long as it takes; once it listens again `onNotify` is called once, for the rows
 * committed while nobody listened.
 */
export async function listenForOutbox(
  url: string,
  onNotify: () => void,
  signal: AbortSignal,
  options: ListenOptions,
): Promise<void> {
  while (!signal.aborted) {
    const client = new pg.Client({ connectionString: url, application_name: "ferry-listen" });
    // A broken connection emits "error" (or only "end" when the server closed it cleanly).
    const lost = new Promise<unknown>((resolve) => {
      client.on("error", resolve);
      client.on("end", () => resolve(new Error("The LISTEN connection was closed")));
    });
    try {
      await client.connect();
      client.on("notification", () => onNotify());
      // raw SQL: LISTEN, on its own connection outside Kysely's pool, which must stay open to hear
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      onNotify();
      const stopped = aborted(signal);
      const err = await Promise.race([lost, stopped.promise]);
      stopped.dispose();
      if (!signal.aborted) options.onError?.(err);
    } catch (err) {
      if (!signal.aborted) options.onError?.(err);
    } finally {
      await client.end().catch(() => {});
    }
    if (!signal.aborted) await options.clock.sleep(options.retryMs, signal).catch(() => {});
  }
}

/** Resolves when `signal` aborts; `dispose` removes its listener (one per connection). */
function aborted(signal: AbortSignal): { promise: Promise<void>; dispose: () => void } {
  let onAbort = () => {};
  const promise = new Promise<void>((resolve) => {
    onAbort = () => resolve();
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener("abort", onAbort) };
}
