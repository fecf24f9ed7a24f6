/**
 * Bounce bookkeeping in `ferry.bounce_messages` (migration 0003) and the outcomes a bounce or
 * complaint applies to deliveries, events and suppressions. Free functions taking the db handle
 * (or a transaction) first; relay/bounce_processing/pg_sink.ts composes them into one transaction per
 * mailbox message.
 *
 * @module
 */
import { sql } from "kysely";
import type { Db } from "./client.ts";

/** What the matcher needs to know about a delivery. */
export interface DeliveryRef {
  readonly id: number;
  readonly outboxId: number;
  readonly recipient: string;
  readonly status: string;
}

/** An outbox row's creation time (part of its Message-ID hash) and its deliveries. */
export interface OutboxRef {
  readonly outboxId: number;
  readonly createdAt: Date;
  readonly deliveries: readonly DeliveryRef[];
}

/** One processed mailbox message: the idempotency marker and what was learnt from it. */
export interface BounceMessageRow {
  readonly mailbox: string;
  readonly uidl: string;
  readonly processedAt: Date;
  readonly kind: "bounce" | "delay" | "complaint" | "unrecognised";
  readonly matched: number;
  readonly unmatched: number;
  readonly summary: Record<string, unknown>;
  /** Kept when something in the message was unmatched or unrecognised; null otherwise. */
  readonly raw: Uint8Array | null;
}

/** What one matched outcome does to its delivery. */
export interface BounceAction {
  readonly deliveryId: number;
  /** The `ferry.events` kind: `bounced`, `bounce_delayed` or `complaint`. */
  readonly event: string;
  readonly code: number | null;
  readonly enhanced: string | null;
  readonly reply: string;
  /** The MTA that reported it, kept in the event's `mx_host`. */
  readonly reportingMta: string | null;
  /** When set, the delivery becomes `bounced` with this class and the code and reply above. */
  readonly bounceClass?: string;
  /** When set, the delivery's recipient is suppressed. */
  readonly suppress?: {
    readonly reason: string;
    readonly source: string;
    /** null: for good. */
    readonly until: Date | null;
  };
}

/** Statuses a hard bounce moves to `bounced`: an accepted message (asynchronous bounce) too. */
const BOUNCEABLE = ["queued", "sending", "deferred", "delivered", "expired"];

/** Which of `uidls` of `mailbox` have a committed marker. */
export async function processedBounceUidls(
  db: Db,
  mailbox: string,
  uidls: readonly string[],
): Promise<Set<string>> {
  if (uidls.length === 0) return new Set();
  const { rows } = await sql<{ uidl: string }>`
    SELECT uidl FROM ferry.bounce_messages
     WHERE mailbox = ${mailbox} AND uidl = ANY(${[...uidls]}::text[])`.execute(db);
  return new Set(rows.map((r) => r.uidl));
}

/** The deliveries among `ids` that exist. */
export async function deliveriesById(db: Db, ids: readonly number[]): Promise<DeliveryRef[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<DeliveryRow>`
    SELECT id, outbox_id, recipient, status FROM ferry.deliveries
     WHERE id = ANY(${[...ids]}::bigint[])`.execute(db);
  return rows.map(toRef);
}

/** The outbox rows among `outboxIds` that exist, each with its deliveries. */
export async function outboxesById(db: Db, outboxIds: readonly number[]): Promise<OutboxRef[]> {
  if (outboxIds.length === 0) return [];
  const { rows } = await sql<{ id: number; created_at: Date }>`
    SELECT id, created_at FROM ferry.outbox WHERE id = ANY(${[...outboxIds]}::bigint[])`
    .execute(db);
  if (rows.length === 0) return [];
  const { rows: deliveries } = await sql<DeliveryRow>`
    SELECT id, outbox_id, recipient, status FROM ferry.deliveries
     WHERE outbox_id = ANY(${rows.map((r) => r.id)}::bigint[]) ORDER BY id`.execute(db);
  return rows.map((r) => ({
    outboxId: Number(r.id),
    createdAt: new Date(r.created_at),
    deliveries: deliveries.filter((d) => Number(d.outbox_id) === Number(r.id)).map(toRef),
  }));
}

/**
 * Inserts the marker row. Returns false, writing nothing, when `(mailbox, uidl)` exists: a
 * concurrent inserter waits on the unique index until the first one commits, then gets false.
 */
export async function insertBounceMessage(db: Db, row: BounceMessageRow): Promise<boolean> {
  const { rows } = await sql<{ id: number }>`
    INSERT INTO ferry.bounce_messages
           (mailbox, uidl, processed_at, kind, matched, unmatched, summary, raw)
    VALUES (${row.mailbox}, ${row.uidl}, ${row.processedAt}, ${row.kind}, ${row.matched},
            ${row.unmatched}, ${JSON.stringify(row.summary)}::jsonb, ${row.raw})
    ON CONFLICT ON CONSTRAINT bounce_messages_marker DO NOTHING
    RETURNING id`.execute(db);
  return rows.length > 0;
}

/**
 * Applies one matched outcome in one statement: the status change (hard bounces only), the
 * event row, the suppression. Returns whether the delivery's status changed.
 *
 * A suppression never shortens an existing one: a for-good entry stays for good, and a later
 * expiry wins over an earlier one.
 */
export async function applyBounceAction(
  db: Db,
  action: BounceAction,
  o: { readonly now: Date; readonly instance?: string },
): Promise<boolean> {
  const bounce = action.bounceClass !== undefined;
  const { rows } = await sql<{ changed: number }>`
    WITH d AS (
      SELECT id, outbox_id, recipient FROM ferry.deliveries
       WHERE id = ${action.deliveryId}::bigint
    ),
    upd AS (
      UPDATE ferry.deliveries x
         SET status = 'bounced', last_code = ${action.code}::smallint,
             last_reply = ${action.reply}::text, bounce_class = ${action.bounceClass ?? null}::text,
             updated_at = ${o.now}::timestamptz,
             lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
       WHERE x.id = ${action.deliveryId}::bigint AND ${bounce}::boolean
         AND x.status = ANY(${BOUNCEABLE}::text[])
      RETURNING x.id
    ),
    ev AS (
      INSERT INTO ferry.events (delivery_id, outbox_id, at, kind, mx_host, code, enhanced, reply,
                                instance)
      SELECT d.id, d.outbox_id, ${o.now}::timestamptz, ${action.event}::text,
             ${action.reportingMta}::text, ${action.code}::smallint, ${action.enhanced}::text,
             ${action.reply}::text, ${o.instance ?? null}::text
        FROM d
    ),
    sup AS (
      INSERT INTO ferry.suppressions AS s (address, reason, source, created_at, expires_at)
      SELECT lower(d.recipient), ${action.suppress?.reason ?? null}::text,
             ${action.suppress?.source ?? null}::text, ${o.now}::timestamptz,
             ${action.suppress?.until ?? null}::timestamptz
        FROM d
       WHERE ${action.suppress !== undefined}::boolean
      ON CONFLICT (address) DO UPDATE
        SET reason = excluded.reason, source = excluded.source,
            expires_at = CASE WHEN s.expires_at IS NULL OR excluded.expires_at IS NULL THEN NULL
                              ELSE greatest(s.expires_at, excluded.expires_at) END
    )
    SELECT count(*)::int AS changed FROM upd`.execute(db);
  return Number(rows[0]?.changed ?? 0) > 0;
}

/** The most recent messages that could not be matched, for operators. */
export async function unmatchedBounceMessages(
  db: Db,
  o: { readonly limit?: number } = {},
): Promise<(BounceMessageRow & { readonly id: number })[]> {
  const { rows } = await sql<{
    id: number;
    mailbox: string;
    uidl: string;
    processed_at: Date;
    kind: BounceMessageRow["kind"];
    matched: number;
    unmatched: number;
    summary: Record<string, unknown>;
    raw: Uint8Array | null;
  }>`
    SELECT id, mailbox, uidl, processed_at, kind, matched, unmatched, summary, raw
      FROM ferry.bounce_messages WHERE unmatched > 0
     ORDER BY processed_at DESC, id DESC LIMIT ${o.limit ?? 100}`.execute(db);
  return rows.map((r) => ({
    id: Number(r.id),
    mailbox: r.mailbox,
    uidl: r.uidl,
    processedAt: new Date(r.processed_at),
    kind: r.kind,
    matched: r.matched,
    unmatched: r.unmatched,
    summary: r.summary,
    raw: r.raw === null ? null : new Uint8Array(r.raw),
  }));
}

/**
 * Deletes markers processed before `before`, in one bounded batch; returns how many went. Only
 * safe for messages long gone from the mailbox: keep `before` well past the poll interval.
 */
export async function purgeBounceMessages(
  db: Db,
  o: { readonly before: Date; readonly limit?: number },
): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    WITH gone AS (
      DELETE FROM ferry.bounce_messages
       WHERE id IN (SELECT id FROM ferry.bounce_messages WHERE processed_at < ${o.before}
                     LIMIT ${o.limit ?? 1000})
      RETURNING 1
    )
    SELECT count(*)::int AS n FROM gone`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

interface DeliveryRow {
  id: number;
  outbox_id: number;
  recipient: string;
  status: string;
}

function toRef(r: DeliveryRow): DeliveryRef {
  return {
    id: Number(r.id),
    outboxId: Number(r.outbox_id),
    recipient: r.recipient,
    status: r.status,
  };
}
