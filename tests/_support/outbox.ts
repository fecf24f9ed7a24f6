/** Inserting outbox rows the way an application does: plain SQL, no Ferry code. */
import { sql } from "kysely";
import type { Db } from "../../db/client.ts";

export interface OutboxInsert {
  from_address?: string | null;
  to_addresses?: string[];
  cc_addresses?: string[];
  bcc_addresses?: string[];
  reply_to?: string | null;
  subject?: string | null;
  text_body?: string | null;
  html_body?: string | null;
  headers?: Record<string, unknown> | null;
  raw_message?: Uint8Array | null;
  priority?: number;
  require_tls?: boolean;
  list_unsubscribe?: boolean;
  /** JSON text. */
  metadata?: string | null;
  send_at?: Date;
  expires_at?: Date | null;
  idempotency_key?: string | null;
  created_at?: Date;
}

/** Inserts one row; returns its id. Defaults make a valid text mail to one recipient. */
export async function insertOutbox(db: Db, row: OutboxInsert = {}): Promise<number> {
  const values = {
    from_address: "sender@ferry.test",
    to_addresses: ["rcpt@example.test"],
    subject: "hello",
    text_body: "body",
    ...row,
  };
  const r = await db.insertInto("ferry.outbox")
    .values({
      ...values,
      headers: values.headers === undefined || values.headers === null
        ? values.headers
        : JSON.stringify(values.headers),
    })
    .returning("id").executeTakeFirstOrThrow();
  return Number(r.id);
}

/** Inserts `n` valid rows to `domain` in one statement (generate_series); fast for big backlogs. */
export async function insertMany(db: Db, n: number, domain: string, at: Date): Promise<void> {
  await sql`
    INSERT INTO ferry.outbox (from_address, to_addresses, subject, text_body, send_at, created_at)
    SELECT 'sender@ferry.test', ARRAY['r' || g || '@' || ${domain}], 's', 'b', ${at}, ${at}
      FROM generate_series(1, ${n}) g`.execute(db);
}
