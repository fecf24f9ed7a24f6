/**
 * The durable side of webhooks, in `ferry.webhook_deliveries` and `ferry.webhook_cursor`
 * (migration 0002): fan-out of new `ferry.events` rows by id watermark, the claim of due
 * notifications, their results with backoff, retention. Free functions taking the db first.
 *
 * ## Why a watermark needs a grace period
 *
 * Identity values are handed out when a row is inserted, not when its transaction commits, so
 * event 11 can become visible before event 10. Advancing the watermark past a missing id could
 * skip event 10 for ever. The fan-out therefore stops at the first missing id and only steps
 * over it once it has stayed missing for `gapWaitMs` (a rolled-back insert leaves a gap that
 * never fills).
 *
 * @module
 */
import { sql } from "kysely";
import type { Db } from "../../db/client.ts";
import { eventFromRow, type EventRow, type WebhookEvent } from "./payload.ts";
import { webhookRetryDelay } from "./schedule.ts";

const CURSOR = "events";

/** Creates the watermark at the newest event (history is not sent); returns its position. */
export async function initWebhookCursor(db: Db, now: Date): Promise<number> {
  await sql`
    INSERT INTO ferry.webhook_cursor (name, last_event_id, updated_at)
    SELECT ${CURSOR}, coalesce(max(id), 0), ${now} FROM ferry.events
    ON CONFLICT (name) DO NOTHING`.execute(db);
  const { rows: [r] } = await sql<{ last_event_id: number }>`
    SELECT last_event_id FROM ferry.webhook_cursor WHERE name = ${CURSOR}`.execute(db);
  return Number(r?.last_event_id ?? 0);
}

export interface Endpoints {
  readonly urls: readonly string[];
  readonly events: readonly string[];
}

export interface FanOutOptions extends Endpoints {
  readonly now: Date;
  readonly limit: number;
  readonly gapWaitMs: number;
  /** First missing id of a gap → when it was first seen (ms); kept by the caller across calls. */
  readonly gaps: Map<number, number>;
}

export interface FanOutResult {
  /** Events the watermark moved past. */
  readonly events: number;
  /** Notifications created. */
  readonly rows: number;
  /** The watermark is held at a missing id, waiting for its transaction to commit. */
  readonly waitingOnGap: boolean;
  /** A full batch was read: call again at once. */
  readonly more: boolean;
}

/** Turns the next events into notifications, one per endpoint, in one short transaction. */
export async function fanOutEvents(db: Db, o: FanOutOptions): Promise<FanOutResult> {
  return await db.transaction().execute(async (tx) => {
    const { rows: [cursor] } = await sql<{ last_event_id: number }>`
      SELECT last_event_id FROM ferry.webhook_cursor WHERE name = ${CURSOR}
         FOR UPDATE`.execute(tx);
    if (!cursor) return { events: 0, rows: 0, waitingOnGap: false, more: false };
    const from = Number(cursor.last_event_id);
    const { rows } = await sql<EventRow>`
      SELECT e.id, e.delivery_id, e.outbox_id, e.at, e.kind, d.recipient, d.domain, d.attempts,
             e.mx_host, e.code, e.enhanced, e.reply, e.tls, e.duration_ms, d.bounce_class,
             o.metadata
        FROM ferry.events e
        LEFT JOIN ferry.deliveries d ON d.id = e.delivery_id
        LEFT JOIN ferry.outbox o ON o.id = e.outbox_id
       WHERE e.id > ${from}
       ORDER BY e.id LIMIT ${o.limit}`.execute(tx);
    const accepted = acceptContiguous(from, rows, o);
    const upTo = Number(accepted.at(-1)?.id ?? from);
    for (const key of o.gaps.keys()) if (key <= upTo) o.gaps.delete(key);
    const items = accepted.flatMap((row) => {
      const event = eventFromRow(row);
      return event && o.events.includes(event.type) ? [{ eventId: Number(row.id), event }] : [];
    });
    const created = await insertNotifications(tx, o.urls, items, o.now);
    const last = accepted.at(-1);
    if (last) {
      await sql`
        UPDATE ferry.webhook_cursor SET last_event_id = ${Number(last.id)}, updated_at = ${o.now}
         WHERE name = ${CURSOR}`.execute(tx);
    }
    return {
      events: accepted.length,
      rows: created,
      waitingOnGap: accepted.length < rows.length,
      more: rows.length === o.limit && accepted.length === rows.length,
    };
  });
}

/** The prefix of `rows` without an unexpired gap (see the module documentation). */
function acceptContiguous(from: number, rows: readonly EventRow[], o: FanOutOptions): EventRow[] {
  const now = o.now.getTime();
  let expected = from + 1;
  const out: EventRow[] = [];
  for (const row of rows) {
    const id = Number(row.id);
    if (id > expected) {
      const seen = o.gaps.get(expected);
      if (seen === undefined) o.gaps.set(expected, now);
      if (seen === undefined || now - seen < o.gapWaitMs) break;
    }
    out.push(row);
    expected = id + 1;
  }
  return out;
}

async function insertNotifications(
  db: Db,
  urls: readonly string[],
  items: readonly { readonly eventId: number | null; readonly event: WebhookEvent }[],
  now: Date,
): Promise<number> {
  const pairs = items.flatMap(({ eventId, event: e }) => urls.map((url) => ({ eventId, e, url })));
  if (pairs.length === 0) return 0;
  const eventIds = pairs.map((p) => p.eventId);
  const { rows } = await sql<{ id: number }>`
    INSERT INTO ferry.webhook_deliveries (event_id, event_type, url, payload, next_attempt_at,
                                          created_at, updated_at)
    SELECT v.event_id, v.event_type, v.url, v.payload::jsonb, ${now}, ${now}, ${now}
      FROM unnest(${eventIds}::bigint[], ${pairs.map(({ e }) => e.type)}::text[],
                  ${pairs.map(({ url }) => url)}::text[],
                  ${pairs.map(({ e }) => JSON.stringify(e))}::text[])
           AS v(event_id, event_type, url, payload)
    ON CONFLICT (event_id, url) WHERE event_id IS NOT NULL DO NOTHING
    RETURNING id`.execute(db);
  return rows.length;
}

/**
 * Queues events that are not rows of `ferry.events` (alerts, or anything the caller builds)
 * for every endpoint whose filter takes them. Returns the notifications created.
 */
export async function enqueueWebhookEvents(
  db: Db,
  endpoints: Endpoints,
  events: readonly WebhookEvent[],
  now: Date,
): Promise<number> {
  const wanted = events.filter((e) => endpoints.events.includes(e.type));
  return await insertNotifications(
    db,
    endpoints.urls,
    wanted.map((event) => ({ eventId: null, event })),
    now,
  );
}

/** A notification handed to the dispatcher. */
export interface ClaimedWebhook {
  readonly id: number;
  readonly url: string;
  readonly eventType: string;
  readonly payload: WebhookEvent;
  /** Attempts including this one. */
  readonly attempt: number;
}

/**
 * Claims due notifications by pushing their due time past the lease: no "sending" state, so a
 * dispatcher that dies mid-POST leaves rows that simply fall due again.
 */
export async function claimWebhooks(
  db: Db,
  o: { readonly now: Date; readonly limit: number; readonly leaseMs: number },
): Promise<ClaimedWebhook[]> {
  const { rows } = await sql<
    { id: number; url: string; event_type: string; payload: WebhookEvent; attempts: number }
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

export type WebhookResult =
  | { readonly id: number; readonly attempt: number; readonly kind: "delivered"; status: number }
  | {
    readonly id: number;
    readonly attempt: number;
    readonly kind: "failed";
    readonly status: number | null;
    readonly error: string;
  };

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly retryBase: number;
  readonly retryMax: number;
}

/** Writes results: delivered, or the next attempt after the backoff, or given up. */
export async function recordWebhookResults(
  db: Db,
  results: readonly WebhookResult[],
  o: { readonly now: Date; readonly policy: RetryPolicy },
): Promise<void> {
  if (results.length === 0) return;
  const plan = results.map((r) => {
    if (r.kind === "delivered") return { r, status: "delivered", next: o.now, error: null };
    const giveUp = r.attempt >= o.policy.maxAttempts;
    const wait = webhookRetryDelay(r.attempt, {
      baseMs: o.policy.retryBase,
      maxMs: o.policy.retryMax,
    });
    return {
      r,
      status: giveUp ? "failed" : "pending",
      next: giveUp ? o.now : new Date(o.now.getTime() + wait),
      error: r.error.slice(0, 1000),
    };
  });
  await sql`
    UPDATE ferry.webhook_deliveries w
       SET status = v.status, next_attempt_at = v.next, last_status = v.code,
           last_error = v.error, updated_at = ${o.now},
           delivered_at = CASE WHEN v.status = 'delivered' THEN ${o.now}::timestamptz END
      FROM unnest(${plan.map((p) => p.r.id)}::bigint[], ${plan.map((p) => p.status)}::text[],
                  ${plan.map((p) => p.next)}::timestamptz[],
                  ${plan.map((p) => p.r.status)}::smallint[], ${plan.map((p) => p.error)}::text[])
           AS v(id, status, next, code, error)
     WHERE w.id = v.id`.execute(db);
}

/** Notifications waiting (pending) and given up (failed). */
export async function webhookBacklog(db: Db): Promise<{ pending: number; failed: number }> {
  const { rows: [r] } = await sql<{ pending: number; failed: number }>`
    SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
           count(*) FILTER (WHERE status = 'failed')::int AS failed
      FROM ferry.webhook_deliveries WHERE status IN ('pending', 'failed')`.execute(db);
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
    const r = await sql`
      DELETE FROM ferry.webhook_deliveries WHERE id IN (
        SELECT id FROM ferry.webhook_deliveries
         WHERE status IN ('delivered', 'failed') AND updated_at < ${o.before} LIMIT ${batch})`
      .execute(db);
    const n = Number(r.numAffectedRows ?? 0);
    total += n;
    if (n < batch) break;
  }
  return total;
}
