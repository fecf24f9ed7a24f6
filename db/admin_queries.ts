/**
 * What operators ask of the queue (the admin API, the CLI, the dashboard): search with keyset
 * pagination, one message with its history, enqueue over HTTP, bulk cancel and retry by filter,
 * suppressions and domain suspensions, per-domain counts. Numbers for the live view and the
 * metrics are in admin_stats.ts.
 *
 * Bulk actions run in batches, each one short statement (`FOR UPDATE SKIP LOCKED`, then the
 * update, then the events): thousands of rows never take a long lock, rows an actor is claiming
 * at that moment are skipped rather than waited for, and every batch moves its rows out of the
 * filter, so the next batch needs no cursor.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { type Expression, expressionBuilder, sql, type SqlBool } from "kysely";
import type { Db } from "./client.ts";
import { type DeliveriesTable, DELIVERY_STATUSES, type DeliveryStatus } from "./schema.ts";
import { anyBigint, literals } from "./sql_fragments.ts";

/** Which deliveries an operator means. Every field narrows; none means all. */
export interface DeliveryFilter {
  readonly status?: readonly DeliveryStatus[];
  readonly domain?: string;
  /** Exact recipient address, as stored. */
  readonly recipient?: string;
  /** Queued at or after (the delivery's `created_at`). */
  readonly since?: Date;
  /** Queued before. */
  readonly until?: Date;
  readonly outboxId?: number;
  /** Only ids up to this one: freezes a bulk action's set at its dry run. */
  readonly maxId?: number;
}

/**
 * Conditions on `ferry.deliveries` under the alias `d`, built apart from any query so that the
 * builder's queries and the raw bulk statements share them.
 */
const onD = expressionBuilder<{ d: DeliveriesTable }, "d">();

function whereFilter(f: DeliveryFilter): Expression<SqlBool> {
  const parts: Expression<SqlBool>[] = [];
  if (f.status) parts.push(statusIn(f.status));
  if (f.domain !== undefined) parts.push(onD("d.domain", "=", f.domain.toLowerCase()));
  if (f.recipient !== undefined) parts.push(onD("d.recipient", "=", f.recipient));
  if (f.since) parts.push(onD("d.created_at", ">=", f.since));
  if (f.until) parts.push(onD("d.created_at", "<", f.until));
  if (f.outboxId !== undefined) parts.push(onD("d.outbox_id", "=", f.outboxId));
  if (f.maxId !== undefined) parts.push(onD("d.id", "<=", f.maxId));
  return onD.and(parts);
}

/**
 * `d.status IN (...)` with the statuses as literals (validated enum values), which lets the
 * planner use the partial indexes; no known status matches nothing. Only ever used as a
 * condition, never negated, so false stands for SQL's `IN (NULL)`.
 */
function statusIn(statuses: readonly DeliveryStatus[]): Expression<SqlBool> {
  const known = statuses.filter((s) => DELIVERY_STATUSES.includes(s));
  return known.length ? onD("d.status", "in", literals(known)) : onD.lit(false);
}

/** A delivery as operators see it (the columns applications read, plus the message's sender and subject). */
export interface DeliveryView {
  readonly id: number;
  readonly outbox_id: number;
  readonly recipient: string;
  readonly domain: string;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly next_attempt_at: Date;
  readonly last_code: number | null;
  readonly last_reply: string | null;
  readonly mx_host: string | null;
  readonly created_at: Date;
  readonly updated_at: Date;
  readonly delivered_at: Date | null;
  readonly expires_at: Date;
  readonly priority: number;
  readonly from_address: string | null;
  readonly subject: string | null;
}

export interface SearchOptions {
  readonly limit: number;
  /** Keyset position: the last id of the previous page. */
  readonly after?: number;
  /** `desc` (newest first, default) or `asc`. */
  readonly order?: "asc" | "desc";
}

export interface SearchPage {
  readonly rows: DeliveryView[];
  /** The id to pass as `after` for the next page; null on the last page. */
  readonly next: number | null;
}

/** One page of deliveries matching `f`, ordered by id. */
export async function searchDeliveries(
  db: Db,
  f: DeliveryFilter,
  o: SearchOptions,
): Promise<SearchPage> {
  const asc = o.order === "asc";
  const after = o.after;
  const rows: DeliveryView[] = await db.selectFrom("ferry.deliveries as d")
    .leftJoin("ferry.outbox as o", "o.id", "d.outbox_id")
    .select([
      "d.id",
      "d.outbox_id",
      "d.recipient",
      "d.domain",
      "d.status",
      "d.attempts",
      "d.next_attempt_at",
      "d.last_code",
      "d.last_reply",
      "d.mx_host",
      "d.created_at",
      "d.updated_at",
      "d.delivered_at",
      "d.expires_at",
      "d.priority",
      "o.from_address",
      "o.subject",
    ])
    .where(whereFilter(f))
    .$if(after !== undefined, (q) => q.where("d.id", asc ? ">" : "<", after!))
    .orderBy("d.id", asc ? "asc" : "desc")
    .limit(o.limit + 1).execute();
  const page = rows.slice(0, o.limit);
  return { rows: page, next: rows.length > o.limit ? page.at(-1)!.id : null };
}

/** An event of `ferry.events`, with the delivery's recipient and domain. */
export interface EventView {
  readonly id: number;
  readonly delivery_id: number;
  readonly outbox_id: number;
  readonly at: Date;
  readonly kind: string;
  readonly recipient: string | null;
  readonly domain: string | null;
  readonly mx_host: string | null;
  readonly code: number | null;
  readonly enhanced: string | null;
  readonly reply: string | null;
  readonly tls: boolean | null;
  /** How the attempt's TLS was decided: `{ policy, reason, tls, verified }`, or null. */
  readonly tls_detail: unknown;
  readonly duration_ms: number | null;
  /** The API key name of the operator who caused the event; null for Ferry's own. */
  readonly actor: string | null;
}

export interface MessageDetail {
  readonly message: Record<string, unknown>;
  readonly deliveries: (DeliveryView & { readonly events: EventView[] })[];
}

/** One outbox row (raw bytes left out, their size kept) with every delivery and its events. */
export async function getMessage(db: Db, outboxId: number): Promise<MessageDetail | undefined> {
  const message: Record<string, unknown> | undefined = await db.selectFrom("ferry.outbox")
    .select((eb) => [
      "id",
      "from_address",
      "to_addresses",
      "cc_addresses",
      "bcc_addresses",
      "reply_to",
      "subject",
      "text_body",
      "html_body",
      "headers",
      eb.fn<number | null>("octet_length", ["raw_message"]).as("raw_size"),
      "priority",
      "require_tls",
      "list_unsubscribe",
      "send_at",
      "expires_at",
      "idempotency_key",
      "metadata",
      "created_at",
      "ingested_at",
      "reject_reason",
    ])
    .where("id", "=", outboxId).executeTakeFirst();
  if (!message) return undefined;
  const page = await searchDeliveries(db, { outboxId }, { limit: 10_000, order: "asc" });
  const ids = page.rows.map((d) => d.id);
  const events: EventView[] = ids.length === 0 ? [] : await selectEventViews(db)
    .where("e.delivery_id", "=", anyBigint(ids))
    .orderBy("e.id").execute();
  return {
    message,
    deliveries: page.rows.map((d) => ({
      ...d,
      events: events.filter((e) => Number(e.delivery_id) === Number(d.id)),
    })),
  };
}

/** Whether outbox row `outboxId` exists (a message's routes answer 404 otherwise). */
export async function messageExists(db: Db, outboxId: number): Promise<boolean> {
  const row = await db.selectFrom("ferry.outbox").select("id").where("id", "=", outboxId)
    .executeTakeFirst();
  return row !== undefined;
}

/** The `ferry.outbox` columns an application may write. */
export interface NewMessage {
  readonly from_address: string;
  readonly to_addresses?: readonly string[];
  readonly cc_addresses?: readonly string[];
  readonly bcc_addresses?: readonly string[];
  readonly reply_to?: string | null;
  readonly subject?: string | null;
  readonly text_body?: string | null;
  readonly html_body?: string | null;
  readonly headers?: Record<string, string> | null;
  readonly raw_message?: Uint8Array | null;
  readonly attachments?: readonly Record<string, unknown>[] | null;
  readonly priority?: number;
  /** REQUIRETLS (RFC 8689); default false. */
  readonly require_tls?: boolean;
  /** One-click unsubscribe (RFC 8058); default false. */
  readonly list_unsubscribe?: boolean;
  readonly send_at?: Date;
  readonly expires_at?: Date | null;
  readonly idempotency_key?: string | null;
  readonly metadata?: Record<string, unknown> | null;
}

export type InsertResult =
  | { readonly kind: "created"; readonly id: number }
  /** A row with the same idempotency key exists: nothing was inserted. */
  | { readonly kind: "duplicate"; readonly id: number };

/** Inserts an outbox row, as an application would; an idempotency key is honoured. */
export async function insertMessage(db: Db, m: NewMessage): Promise<InsertResult> {
  const inserted = await db.insertInto("ferry.outbox")
    .values({
      from_address: m.from_address,
      to_addresses: [...(m.to_addresses ?? [])],
      cc_addresses: [...(m.cc_addresses ?? [])],
      bcc_addresses: [...(m.bcc_addresses ?? [])],
      reply_to: m.reply_to ?? null,
      subject: m.subject ?? null,
      text_body: m.text_body ?? null,
      html_body: m.html_body ?? null,
      headers: m.headers ? JSON.stringify(m.headers) : null,
      raw_message: m.raw_message ? Buffer.from(m.raw_message) : null,
      attachments: m.attachments ? JSON.stringify(m.attachments) : null,
      priority: m.priority ?? 1,
      require_tls: m.require_tls ?? false,
      list_unsubscribe: m.list_unsubscribe ?? false,
      ...(m.send_at ? { send_at: m.send_at } : {}),
      expires_at: m.expires_at ?? null,
      idempotency_key: m.idempotency_key ?? null,
      metadata: m.metadata ? JSON.stringify(m.metadata) : null,
    })
    .onConflict((oc) =>
      oc.column("idempotency_key").where("idempotency_key", "is not", null).doNothing()
    )
    .returning("id").executeTakeFirst();
  if (inserted) return { kind: "created", id: Number(inserted.id) };
  const existing = await db.selectFrom("ferry.outbox").select("id")
    .where("idempotency_key", "=", m.idempotency_key ?? null).executeTakeFirstOrThrow();
  return { kind: "duplicate", id: Number(existing.id) };
}

export type BulkAction = "cancel" | "retry";

/** Statuses each action can move a delivery out of. */
export const ACTIONABLE: Readonly<Record<BulkAction, readonly DeliveryStatus[]>> = {
  cancel: ["queued", "deferred"],
  retry: ["queued", "deferred", "bounced", "expired", "cancelled"],
};

/**
 * The statuses an action touches by default: cancel everything waiting; retry only what was
 * deferred (retrying `queued` would send mail scheduled with `send_at` early, and requeueing
 * final failures must be asked for by name).
 */
export const DEFAULT_STATUSES: Readonly<Record<BulkAction, readonly DeliveryStatus[]>> = {
  cancel: ["queued", "deferred"],
  retry: ["deferred"],
};

export interface BulkOptions {
  readonly now: Date;
  /** Rows per statement (default 1000). */
  readonly batchSize?: number;
  /** Stop after this many rows (a caller showing progress); default: all. */
  readonly maxRows?: number;
  /** Recorded as `last_reply` and in the event (cancel). */
  readonly reason?: string;
  /** Retry of a bounced/expired/cancelled row: its new lifetime from now (default 5 days). */
  readonly lifetimeMs?: number;
  /** The API key name acting, recorded on the events the action writes. */
  readonly actor?: string;
}

export interface BulkResult {
  readonly affected: number;
  readonly batches: number;
  /** False when `maxRows` stopped the run: call again for the rest. */
  readonly done: boolean;
}

/**
 * The rows an action would change. A ready row is only "retried" when it is not due yet, so a
 * retry batch always moves its rows out of the predicate and the loop ends.
 */
function actionable(action: BulkAction, f: DeliveryFilter, now: Date): Expression<SqlBool> {
  const wanted = (f.status ?? DEFAULT_STATUSES[action]).filter((s) =>
    ACTIONABLE[action].includes(s)
  );
  const ready = wanted.filter((s) => s === "queued" || s === "deferred");
  const final = wanted.filter((s) => s !== "queued" && s !== "deferred");
  const base = whereFilter({ ...f, status: undefined });
  if (action === "cancel") return onD.and([base, statusIn(ready)]);
  return onD.and([
    base,
    onD.or([onD.and([statusIn(ready), onD("d.next_attempt_at", ">", now)]), statusIn(final)]),
  ]);
}

/** How many rows `action` would change now (a dry run), and the highest id among them. */
export async function countActionable(
  db: Db,
  action: BulkAction,
  f: DeliveryFilter,
  now: Date,
): Promise<{ readonly matched: number; readonly maxId: number | null }> {
  const r = await db.selectFrom("ferry.deliveries as d")
    .select((eb) => [
      eb.cast<number>(eb.fn.countAll(), "integer").as("n"),
      eb.fn.max("d.id").as("max_id"),
    ])
    .where(actionable(action, f, now)).executeTakeFirst();
  return { matched: Number(r?.n ?? 0), maxId: r?.max_id == null ? null : Number(r.max_id) };
}

/** Cancels (action `cancel`) or makes due now (action `retry`) every matching row, in batches. */
export async function bulkAction(
  db: Db,
  action: BulkAction,
  f: DeliveryFilter,
  o: BulkOptions,
): Promise<BulkResult> {
  const batch = o.batchSize ?? 1000;
  if (!(batch > 0)) {
    throw new RangeError(`Cannot run a bulk ${action} as 'batchSize' must be > 0: got ${batch}`);
  }
  const max = o.maxRows ?? Number.POSITIVE_INFINITY;
  let affected = 0;
  let batches = 0;
  // Each full batch moves `batch` rows out of the predicate, so the count is bounded by the
  // table; the cap is a guard against a bug turning this into a spin.
  while (affected < max && batches < 1_000_000) {
    const n = Math.min(batch, max - affected);
    const done = action === "cancel"
      ? await cancelBatch(db, f, n, o)
      : await retryBatch(db, f, n, o);
    batches++;
    affected += done;
    if (done < n) return { affected, batches, done: true };
  }
  return { affected, batches, done: false };
}

async function cancelBatch(db: Db, f: DeliveryFilter, n: number, o: BulkOptions) {
  const reason = o.reason ?? "cancelled by operator";
  // raw SQL: FOR UPDATE SKIP LOCKED batch whose update and events are data-modifying CTEs
  const { rows: [r] } = await sql<{ n: number }>`
    WITH locked AS (
      SELECT d.id FROM ferry.deliveries d WHERE ${actionable("cancel", f, o.now)}
       LIMIT ${n} FOR UPDATE OF d SKIP LOCKED
    ), upd AS (
      UPDATE ferry.deliveries d
         SET status = 'cancelled', updated_at = ${o.now}, last_reply = ${reason}
        FROM locked WHERE d.id = locked.id
      RETURNING d.id, d.outbox_id
    ), ev AS (
      INSERT INTO ferry.events (delivery_id, outbox_id, at, kind, reply, actor)
      SELECT id, outbox_id, ${o.now}, 'cancelled', ${reason}, ${o.actor ?? null}::text FROM upd
    )
    SELECT count(*)::int AS n FROM upd`.execute(db);
  return Number(r?.n ?? 0);
}

async function retryBatch(db: Db, f: DeliveryFilter, n: number, o: BulkOptions) {
  const lifetime = o.lifetimeMs ?? 5 * 86_400_000;
  // raw SQL: FOR UPDATE SKIP LOCKED batch whose update and events are data-modifying CTEs
  const { rows: [r] } = await sql<{ n: number }>`
    WITH locked AS (
      SELECT d.id, d.status AS was FROM ferry.deliveries d WHERE ${actionable("retry", f, o.now)}
       LIMIT ${n} FOR UPDATE OF d SKIP LOCKED
    ), upd AS (
      UPDATE ferry.deliveries d
         SET status = CASE WHEN d.status IN ('queued', 'deferred') THEN d.status
                           WHEN d.attempts = 0 THEN 'queued' ELSE 'deferred' END,
             next_attempt_at = ${o.now}, updated_at = ${o.now},
             expires_at = CASE WHEN d.status IN ('queued', 'deferred') THEN d.expires_at
                               ELSE greatest(d.expires_at,
                                 ${o.now}::timestamptz + ${lifetime} * interval '1 millisecond')
                          END
        FROM locked WHERE d.id = locked.id
      RETURNING d.id, d.outbox_id, locked.was
    ), ev AS (
      -- Only a final row coming back is an event; making a deferred row due is not.
      INSERT INTO ferry.events (delivery_id, outbox_id, at, kind, reply, actor)
      SELECT id, outbox_id, ${o.now}, 'requeued', 'requeued by operator (was ' || was || ')',
             ${o.actor ?? null}::text
        FROM upd WHERE was NOT IN ('queued', 'deferred')
    )
    SELECT count(*)::int AS n FROM upd`.execute(db);
  return Number(r?.n ?? 0);
}

/** Per-status counts of the waiting deliveries, and the domains with most of them. */
export interface DomainCounts {
  readonly domain: string;
  readonly queued: number;
  readonly deferred: number;
  readonly sending: number;
  /** Waiting rows whose time has come. */
  readonly due: number;
  readonly oldest_created_at: Date | null;
  readonly next_attempt_at: Date | null;
}

/** Domains with waiting deliveries, busiest first (or the one `domain`). */
export async function domainCounts(
  db: Db,
  o: { readonly now: Date; readonly limit: number; readonly domain?: string },
): Promise<DomainCounts[]> {
  const domain = o.domain?.toLowerCase();
  return await db.selectFrom("ferry.deliveries as d")
    .select((eb) => [
      "d.domain",
      eb.cast<number>(eb.fn.countAll().filterWhere("d.status", "=", "queued"), "integer")
        .as("queued"),
      eb.cast<number>(eb.fn.countAll().filterWhere("d.status", "=", "deferred"), "integer")
        .as("deferred"),
      eb.cast<number>(eb.fn.countAll().filterWhere("d.status", "=", "sending"), "integer")
        .as("sending"),
      eb.cast<number>(
        eb.fn.countAll().filterWhere((eb) =>
          eb.and([eb("d.status", "<>", "sending"), eb("d.next_attempt_at", "<=", o.now)])
        ),
        "integer",
      ).as("due"),
      eb.fn.min("d.created_at").as("oldest_created_at"),
      eb.fn.min("d.next_attempt_at").filterWhere("d.status", "<>", "sending").as(
        "next_attempt_at",
      ),
    ])
    .where("d.status", "in", literals(["queued", "deferred", "sending"]))
    .$if(domain !== undefined, (q) => q.where("d.domain", "=", domain!))
    .groupBy("d.domain")
    .orderBy((eb) => eb.fn.countAll(), "desc")
    .orderBy("d.domain")
    .limit(o.limit).execute();
}

/** The most recent reply recorded for a waiting delivery of `domain` (why it is deferred). */
export async function lastReplyOf(
  db: Db,
  domain: string,
): Promise<{ code: number | null; reply: string; at: Date } | undefined> {
  return await db.selectFrom("ferry.deliveries as d")
    .select(["d.last_code as code", "d.last_reply as reply", "d.updated_at as at"])
    .where("d.domain", "=", domain.toLowerCase())
    .where("d.status", "in", literals(["queued", "deferred"]))
    .where("d.last_reply", "is not", null)
    .$narrowType<{ reply: string }>()
    .orderBy("d.updated_at", "desc").limit(1).executeTakeFirst();
}

export interface Suspension {
  readonly domain: string;
  readonly reason: string;
  readonly until: Date;
  readonly created_at: Date;
}

/** Suspends deliveries to `domain` until `until` (the claim skips it meanwhile). */
export async function suspendDomain(
  db: Db,
  s: { readonly domain: string; readonly reason: string; readonly until: Date; readonly now: Date },
): Promise<Suspension> {
  return await db.insertInto("ferry.domain_suspensions")
    .values({ domain: s.domain.toLowerCase(), reason: s.reason, until: s.until, created_at: s.now })
    .onConflict((oc) =>
      oc.column("domain").doUpdateSet({ reason: s.reason, until: s.until, created_at: s.now })
    )
    .returningAll().executeTakeFirstOrThrow();
}

/** Lifts a suspension; false when there was none. */
export async function resumeDomain(db: Db, domain: string): Promise<boolean> {
  const r = await db.deleteFrom("ferry.domain_suspensions")
    .where("domain", "=", domain.toLowerCase()).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Suspensions still in force at `now` (of one domain, when given). */
export async function activeSuspensions(
  db: Db,
  now: Date,
  domain?: string,
): Promise<Suspension[]> {
  return await db.selectFrom("ferry.domain_suspensions").selectAll()
    .where("until", ">", now)
    .$if(domain !== undefined, (q) => q.where("domain", "=", domain!.toLowerCase()))
    .orderBy("domain").execute();
}

export interface Suppression {
  readonly address: string;
  readonly reason: string;
  readonly source: string;
  readonly created_at: Date;
  readonly expires_at: Date | null;
  /** The scope: mail from this From domain only; null: every sender. */
  readonly sender_domain: string | null;
}

/** Where a page of suppressions ends: the address, then the scope ('' for global). */
export interface SuppressionKey {
  readonly address: string;
  readonly scope: string;
}

/**
 * One page of suppressions, by address then scope (keyset; global entries sort first),
 * optionally those starting with `prefix`.
 */
export async function listSuppressions(
  db: Db,
  o: { readonly limit: number; readonly after?: SuppressionKey; readonly prefix?: string },
): Promise<{ rows: Suppression[]; next: SuppressionKey | null }> {
  // Global entries (NULL) sort first, as the empty scope.
  const scope = sql<string>`coalesce(sender_domain, '')`;
  const rows = await db.selectFrom("ferry.suppressions").selectAll()
    .$if(o.after !== undefined, (q) =>
      q.where((eb) =>
        eb.or([
          eb("address", ">", o.after!.address),
          eb.and([eb("address", "=", o.after!.address), eb(scope, ">", o.after!.scope)]),
        ])
      ))
    .$if(
      o.prefix !== undefined,
      (q) => q.where("address", "like", `${o.prefix!.toLowerCase().replace(/[\\%_]/g, "\\$&")}%`),
    )
    .orderBy("address").orderBy(scope).limit(o.limit + 1).execute();
  const page = rows.slice(0, o.limit);
  const last = page.at(-1);
  return {
    rows: page,
    next: rows.length > o.limit && last
      ? { address: last.address, scope: last.sender_domain ?? "" }
      : null,
  };
}

/**
 * Adds or replaces a suppression (addresses and domains are kept lower-case, as ingestion
 * compares them). `senderDomain` scopes it to mail from that domain; absent or null: global.
 */
export async function addSuppression(
  db: Db,
  s: {
    readonly address: string;
    readonly reason: string;
    readonly source?: string;
    readonly expiresAt?: Date | null;
    readonly senderDomain?: string | null;
    readonly now: Date;
  },
): Promise<Suppression> {
  const values = {
    address: s.address.toLowerCase(),
    reason: s.reason,
    source: s.source ?? "manual",
    created_at: s.now,
    expires_at: s.expiresAt ?? null,
    sender_domain: s.senderDomain?.toLowerCase() ?? null,
  };
  return await db.insertInto("ferry.suppressions").values(values)
    .onConflict((oc) =>
      oc.columns(["address", "sender_domain"]).doUpdateSet({
        reason: values.reason,
        source: values.source,
        expires_at: values.expires_at,
      })
    )
    .returningAll().executeTakeFirstOrThrow();
}

/**
 * Removes one suppression: the global entry of the address, or with `senderDomain` the entry
 * scoped to that domain. False when there was none.
 */
export async function removeSuppression(
  db: Db,
  address: string,
  senderDomain: string | null = null,
): Promise<boolean> {
  const r = await db.deleteFrom("ferry.suppressions")
    .where("address", "=", address.toLowerCase())
    .where((eb) =>
      senderDomain === null
        ? eb("sender_domain", "is", null)
        : eb("sender_domain", "=", senderDomain.toLowerCase())
    )
    .executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/**
 * Events as the API shows them (an {@link EventView}: the event with its delivery's recipient
 * and domain); callers add the filter and the order.
 */
export function selectEventViews(db: Db) {
  return db.selectFrom("ferry.events as e")
    .leftJoin("ferry.deliveries as d", "d.id", "e.delivery_id")
    .select([
      "e.id",
      "e.delivery_id",
      "e.outbox_id",
      "e.at",
      "e.kind",
      "d.recipient",
      "d.domain",
      "e.mx_host",
      "e.code",
      "e.enhanced",
      "e.reply",
      "e.tls",
      "e.tls_detail",
      "e.duration_ms",
      "e.actor",
    ]);
}
