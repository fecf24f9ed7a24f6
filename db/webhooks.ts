/**
 * The webhook tables, `ferry.webhook_deliveries` and `ferry.webhook_cursor` (migration 0002):
 * the fan-out watermark over `ferry.events`, the notifications, their claim, their results,
 * retention. What to send and when to retry is relay/webhooks/store.ts's; these functions only
 * read and write rows.
 *
 * @module
 */
import { sql } from "kysely";
import type { Db } from "./client.ts";
import { literals } from "./sql_fragments.ts";

/** The one watermark row: the fan-out of `ferry.events`. */
const CURSOR = "events";

/** Creates the watermark at the newest event (history is not sent); returns its position. */
export async function initWebhookCursor(db: Db, now: Date): Promise<number> {
  await db.insertInto("ferry.webhook_cursor")
    .columns(["name", "last_event_id", "updated_at"])
    .expression((eb) =>
      eb.selectFrom("ferry.events").select((eb) => [
        eb.val(CURSOR).as("name"),
        eb.fn.coalesce(eb.fn.max("id"), eb.lit(0)).as("last_event_id"),
        eb.val(now).as("updated_at"),
      ])
    )
    .onConflict((oc) => oc.column("name").doNothing())
    .execute();
  const r = await db.selectFrom("ferry.webhook_cursor").select("last_event_id")
    .where("name", "=", CURSOR).executeTakeFirst();
  return Number(r?.last_event_id ?? 0);
}

/**
 * The watermark, locked until the end of the caller's transaction (several instances never fan
 * out the same events); undefined when it was never created.
 */
export async function lockWebhookCursor(tx: Db): Promise<number | undefined> {
  const r = await tx.selectFrom("ferry.webhook_cursor").select("last_event_id")
    .where("name", "=", CURSOR).forUpdate().executeTakeFirst();
  return r === undefined ? undefined : Number(r.last_event_id);
}

/** Moves the watermark to `lastEventId`. */
export async function advanceWebhookCursor(tx: Db, lastEventId: number, now: Date): Promise<void> {
  await tx.updateTable("ferry.webhook_cursor")
    .set({ last_event_id: lastEventId, updated_at: now })
    .where("name", "=", CURSOR).execute();
}

/** A `ferry.events` row joined with its delivery and message, as the fan-out reads it. */
export interface WebhookEventRow {
  readonly id: number;
  readonly delivery_id: number;
  readonly outbox_id: number;
  readonly at: Date;
  readonly kind: string;
  readonly recipient: string | null;
  readonly domain: string | null;
  readonly attempts: number | null;
  readonly mx_host: string | null;
  readonly code: number | null;
  readonly enhanced: string | null;
  readonly reply: string | null;
  readonly tls: boolean | null;
  readonly duration_ms: number | null;
  readonly bounce_class: string | null;
  readonly metadata: unknown;
}

/** Up to `limit` events after id `afterId`, oldest first, with their delivery and message. */
export async function eventsForWebhooks(
  db: Db,
  afterId: number,
  limit: number,
): Promise<WebhookEventRow[]> {
  return await db.selectFrom("ferry.events as e")
    .leftJoin("ferry.deliveries as d", "d.id", "e.delivery_id")
    .leftJoin("ferry.outbox as o", "o.id", "e.outbox_id")
    .select([
      "e.id",
      "e.delivery_id",
      "e.outbox_id",
      "e.at",
      "e.kind",
      "d.recipient",
      "d.domain",
      "d.attempts",
      "e.mx_host",
      "e.code",
      "e.enhanced",
      "e.reply",
      "e.tls",
      "e.duration_ms",
      "d.bounce_class",
      "o.metadata",
    ])
    .where("e.id", ">", afterId)
    .orderBy("e.id").limit(limit).execute();
}

/** A notification to create. */
export interface NewWebhookDelivery {
  /** The `ferry.events` row, or null for an event that is not one (an alert). */
  readonly eventId: number | null;
  readonly eventType: string;
  readonly url: string;
  /** Stored as jsonb. */
  readonly payload: unknown;
}

/**
 * Inserts notifications, due at `now`; a pair (event, url) that exists is skipped, so a replayed
 * fan-out creates nothing twice. Returns how many were created.
 */
export async function insertWebhookDeliveries(
  db: Db,
  rows: readonly NewWebhookDelivery[],
  now: Date,
): Promise<number> {
  if (rows.length === 0) return 0;
  // raw SQL: a batch of any size as one unnest statement, and ON CONFLICT on a partial index
  const { rows: created } = await sql<{ id: number }>`
    INSERT INTO ferry.webhook_deliveries (event_id, event_type, url, payload, next_attempt_at,
                                          created_at, updated_at)
    SELECT v.event_id, v.event_type, v.url, v.payload::jsonb, ${now}, ${now}, ${now}
      FROM unnest(${rows.map((r) => r.eventId)}::bigint[], ${rows.map((r) => r.eventType)}::text[],
                  ${rows.map((r) => r.url)}::text[],
                  ${rows.map((r) => JSON.stringify(r.payload))}::text[])
           AS v(event_id, event_type, url, payload)
    ON CONFLICT (event_id, url) WHERE event_id IS NOT NULL DO NOTHING
    RETURNING id`.execute(db);
  return created.length;
}

/** A claimed notification. */
export interface ClaimedWebhookRow {
  readonly id: number;
  readonly url: string;
  readonly eventType: string;
  /** The stored jsonb, parsed. */
  readonly payload: unknown;
  /** Attempts including this one. */
  readonly attempt: number;
}

/**
 * Claims due notifications by pushing their due time `leaseMs` past `now` and counting the
 * attempt: no "sending" state, so a dispatcher that dies mid-POST leaves rows that simply fall
 * due again.
 */
export async function claimWebhookDeliveries(
  db: Db,
  o: { readonly now: Date; readonly limit: number; readonly leaseMs: number },
): Promise<ClaimedWebhookRow[]> {
  // raw SQL: FOR UPDATE SKIP LOCKED claim, selected and updated in one statement
  const { rows } = await sql<
    { id: number; url: string; event_type: string; payload: unknown; attempts: number }
  >`
    WITH due AS (
      SELECT id FROM ferry.webhook_deliveries
       WHERE status = 'pending' AND next_attempt_at <= ${o.now}
       ORDER BY next_attempt_at, id LIMIT ${o.limit}
         FOR UPDATE SKIP LOCKED
    )
    UPDATE ferry.webhook_deliveries w
       SET attempts = w.attempts + 1, updated_at = ${o.now},
           next_attempt_at = ${new Date(o.now.getTime() + o.leaseMs)}
      FROM due WHERE w.id = due.id
    RETURNING w.id, w.url, w.event_type, w.payload, w.attempts`.execute(db);
  return rows.map((r) => ({
    id: Number(r.id),
    url: r.url,
    eventType: r.event_type,
    payload: typeof r.payload === "string" ? JSON.parse(r.payload) : r.payload,
    attempt: Number(r.attempts),
  }));
}

/** What became of one notification. */
export interface WebhookOutcomeRow {
  readonly id: number;
  readonly status: "pending" | "delivered" | "failed";
  /** The next attempt (`pending`), or when it ended. */
  readonly next: Date;
  /** The HTTP status, when there was an answer. */
  readonly code: number | null;
  readonly error: string | null;
}

/** Writes outcomes; `delivered_at` is set, to `now`, on delivered rows only. */
export async function updateWebhookDeliveries(
  db: Db,
  outcomes: readonly WebhookOutcomeRow[],
  now: Date,
): Promise<void> {
  if (outcomes.length === 0) return;
  // raw SQL: a batch of any size as one UPDATE ... FROM unnest statement
  await sql`
    UPDATE ferry.webhook_deliveries w
       SET status = v.status, next_attempt_at = v.next, last_status = v.code,
           last_error = v.error, updated_at = ${now},
           delivered_at = CASE WHEN v.status = 'delivered' THEN ${now}::timestamptz END
      FROM unnest(${outcomes.map((p) => p.id)}::bigint[], ${outcomes.map((p) => p.status)}::text[],
                  ${outcomes.map((p) => p.next)}::timestamptz[],
                  ${outcomes.map((p) => p.code)}::smallint[],
                  ${outcomes.map((p) => p.error)}::text[])
           AS v(id, status, next, code, error)
     WHERE w.id = v.id`.execute(db);
}

/** Notifications waiting (pending) and given up (failed). */
export async function webhookBacklog(db: Db): Promise<{ pending: number; failed: number }> {
  const r = await db.selectFrom("ferry.webhook_deliveries")
    .select((eb) => [
      eb.cast<number>(eb.fn.countAll().filterWhere("status", "=", "pending"), "integer")
        .as("pending"),
      eb.cast<number>(eb.fn.countAll().filterWhere("status", "=", "failed"), "integer")
        .as("failed"),
    ])
    .where("status", "in", literals(["pending", "failed"]))
    .executeTakeFirst();
  return { pending: Number(r?.pending ?? 0), failed: Number(r?.failed ?? 0) };
}

/** Deletes finished notifications older than `before`, in batches. Returns how many. */
export async function purgeWebhooks(
  db: Db,
  o: { readonly before: Date; readonly batchSize?: number; readonly maxBatches?: number },
): Promise<number> {
  const batch = o.batchSize ?? 1000;
  let total = 0;
  for (let i = 0; i < (o.maxBatches ?? 100); i++) {
    const r = await db.deleteFrom("ferry.webhook_deliveries")
      .where("id", "in", (eb) =>
        eb.selectFrom("ferry.webhook_deliveries").select("id")
          .where("status", "in", literals(["delivered", "failed"]))
          .where("updated_at", "<", o.before)
          .limit(batch))
      .executeTakeFirst();
    const n = Number(r.numDeletedRows ?? 0);
    total += n;
    if (n < batch) break;
  }
  return total;
}
