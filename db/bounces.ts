/**
 * Bounce bookkeeping in `ferry.bounce_messages` (migration 0003) and the outcomes a bounce or
 * complaint applies to deliveries, events and suppressions. Free functions taking the db handle
 * (or a transaction) first; relay/bounce_processing/pg_sink.ts composes them into one transaction per
 * mailbox message.
 *
 * @module
 */
import type { Db } from "./client.ts";
import type { DeliveryStatus } from "./schema.ts";
import { anyBigint, anyText } from "./sql_fragments.ts";

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
const BOUNCEABLE: readonly DeliveryStatus[] = [
  "queued",
  "sending",
  "deferred",
  "delivered",
  "expired",
];

/** Which of `uidls` of `mailbox` have a committed marker. */
export async function processedBounceUidls(
  db: Db,
  mailbox: string,
  uidls: readonly string[],
): Promise<Set<string>> {
  if (uidls.length === 0) return new Set();
  const rows = await db.selectFrom("ferry.bounce_messages").select("uidl")
    .where("mailbox", "=", mailbox).where("uidl", "=", anyText(uidls)).execute();
  return new Set(rows.map((r) => r.uidl));
}

/** The deliveries among `ids` that exist. */
export async function deliveriesById(db: Db, ids: readonly number[]): Promise<DeliveryRef[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom("ferry.deliveries")
    .select(["id", "outbox_id", "recipient", "status"])
    .where("id", "=", anyBigint(ids)).execute();
  return rows.map(toRef);
}

/** The outbox rows among `outboxIds` that exist, each with its deliveries. */
export async function outboxesById(db: Db, outboxIds: readonly number[]): Promise<OutboxRef[]> {
  if (outboxIds.length === 0) return [];
  const rows = await db.selectFrom("ferry.outbox").select(["id", "created_at"])
    .where("id", "=", anyBigint(outboxIds)).execute();
  if (rows.length === 0) return [];
  const deliveries = await db.selectFrom("ferry.deliveries")
    .select(["id", "outbox_id", "recipient", "status"])
    .where("outbox_id", "=", anyBigint(rows.map((r) => r.id)))
    .orderBy("id").execute();
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
  const inserted = await db.insertInto("ferry.bounce_messages")
    .values({
      mailbox: row.mailbox,
      uidl: row.uidl,
      processed_at: row.processedAt,
      kind: row.kind,
      matched: row.matched,
      unmatched: row.unmatched,
      summary: JSON.stringify(row.summary),
      raw: row.raw,
    })
    .onConflict((oc) => oc.constraint("bounce_messages_marker").doNothing())
    .returning("id").executeTakeFirst();
  return inserted !== undefined;
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
  const suppress = action.suppress;
  const r = await db
    .with("d", (q) =>
      q.selectFrom("ferry.deliveries").select(["id", "outbox_id", "recipient"])
        .where("id", "=", action.deliveryId))
    // Hard bounces only; the other CTEs run for every action.
    .with("upd", (q) =>
      q.updateTable("ferry.deliveries as x")
        .set({
          status: "bounced",
          last_code: action.code,
          last_reply: action.reply,
          bounce_class: action.bounceClass ?? null,
          updated_at: o.now,
          lease_owner: null,
          lease_token: null,
          lease_expires_at: null,
        })
        .where("x.id", "=", action.deliveryId)
        .where((eb) => eb.lit(bounce))
        .where("x.status", "=", anyText(BOUNCEABLE))
        .returning("x.id"))
    // Parameters in an INSERT ... SELECT list carry no type of their own: each is cast.
    .with("ev", (q) =>
      q.insertInto("ferry.events")
        .columns([
          "delivery_id",
          "outbox_id",
          "at",
          "kind",
          "mx_host",
          "code",
          "enhanced",
          "reply",
          "instance",
        ])
        .expression((eb) =>
          eb.selectFrom("d").select((eb) => [
            "d.id",
            "d.outbox_id",
            eb.cast(eb.val(o.now), "timestamptz").as("at"),
            eb.cast(eb.val(action.event), "text").as("kind"),
            eb.cast(eb.val(action.reportingMta), "text").as("mx_host"),
            eb.cast(eb.val(action.code), "smallint").as("code"),
            eb.cast(eb.val(action.enhanced), "text").as("enhanced"),
            eb.cast(eb.val(action.reply), "text").as("reply"),
            eb.cast(eb.val(o.instance ?? null), "text").as("instance"),
          ])
        ))
    // Never shortens a suppression: for good stays for good, the later expiry wins.
    .with("sup", (q) =>
      q.insertInto("ferry.suppressions")
        .columns(["address", "reason", "source", "created_at", "expires_at"])
        .expression((eb) =>
          eb.selectFrom("d").select((eb) => [
            eb.fn<string>("lower", ["d.recipient"]).as("address"),
            eb.cast(eb.val(suppress?.reason ?? null), "text").as("reason"),
            eb.cast(eb.val(suppress?.source ?? null), "text").as("source"),
            eb.cast(eb.val(o.now), "timestamptz").as("created_at"),
            eb.cast(eb.val(suppress?.until ?? null), "timestamptz").as("expires_at"),
          ]).where((eb) => eb.lit(suppress !== undefined))
        )
        .onConflict((oc) =>
          oc.columns(["address", "sender_domain"]).doUpdateSet((eb) => ({
            reason: eb.ref("excluded.reason"),
            source: eb.ref("excluded.source"),
            expires_at: eb.case()
              .when(eb.or([
                eb("ferry.suppressions.expires_at", "is", null),
                eb("excluded.expires_at", "is", null),
              ]))
              .then(null)
              .else(
                eb.fn<Date>("greatest", ["ferry.suppressions.expires_at", "excluded.expires_at"]),
              )
              .end(),
          }))
        ))
    .selectFrom("upd")
    .select((eb) => eb.cast<number>(eb.fn.countAll(), "integer").as("changed"))
    .executeTakeFirst();
  return Number(r?.changed ?? 0) > 0;
}

/** The most recent messages that could not be matched, for operators. */
export async function unmatchedBounceMessages(
  db: Db,
  o: { readonly limit?: number } = {},
): Promise<(BounceMessageRow & { readonly id: number })[]> {
  const rows = await db.selectFrom("ferry.bounce_messages")
    .select([
      "id",
      "mailbox",
      "uidl",
      "processed_at",
      "kind",
      "matched",
      "unmatched",
      "summary",
      "raw",
    ])
    // A literal, as in the partial index bounce_messages_unmatched's predicate.
    .where((eb) => eb("unmatched", ">", eb.lit(0)))
    .orderBy("processed_at", "desc").orderBy("id", "desc")
    .limit(o.limit ?? 100).execute();
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
  const r = await db.deleteFrom("ferry.bounce_messages")
    .where("id", "in", (eb) =>
      eb.selectFrom("ferry.bounce_messages").select("id")
        .where("processed_at", "<", o.before)
        .limit(o.limit ?? 1000))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

interface DeliveryRow {
  readonly id: number;
  readonly outbox_id: number;
  readonly recipient: string;
  readonly status: string;
}

function toRef(r: DeliveryRow): DeliveryRef {
  return {
    id: Number(r.id),
    outboxId: Number(r.outbox_id),
    recipient: r.recipient,
    status: r.status,
  };
}
