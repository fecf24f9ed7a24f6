/**
 * Optional LISTEN/NOTIFY wake-up. Off by default: a NOTIFY issued inside the application's
 * transaction takes a database-wide lock at commit and serialises every committing transaction
 * that notified, and it never fires for a future `send_at`; so polling stays the mechanism and
 * NOTIFY only shortens its waits. The trigger is statement-level (one notification per INSERT
 * statement, not per row) and carries no payload.
 *
 * @module
 */
import { sql } from "kysely";
import pg from "pg";
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

/** LISTENs on a dedicated connection until `signal` aborts; calls `onNotify` per notification. */
export async function listenForOutbox(
  url: string,
  onNotify: () => void,
  signal: AbortSignal,
): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: "ferry-listen" });
  client.on("error", () => {});
  await client.connect();
  client.on("notification", () => onNotify());
  // raw SQL: LISTEN, on its own connection outside Kysely's pool, which must stay open to hear
  await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
  await new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
  await client.end();
}
