/**
 * Queue operations for the actors: claim due deliveries under a fenced lease, record outcomes in
 * batches, hand claims back, reap expired leases, cancel.
 *
 * No transaction here is held across SMTP: a claim is one statement that moves rows to `sending`
 * with a lease (`lease_owner`, `lease_token`, `lease_expires_at`) and commits; the outcome arrives
 * later as another statement that only applies where the row still carries the same token. The
 * token comes from the sequence `ferry.fence`, so it only grows: once a lease has expired and the
 * row was claimed again, the old holder's report is refused ("fencing").
 *
 * ## Fairness
 *
 * `readyDomains` walks the distinct domains that have ready rows (a skip scan over the leading
 * column of `deliveries_ready`, resumed after a cursor the caller keeps between calls), and
 * `claimDomains` takes at most the requested number of due rows from each destination, highest
 * priority and oldest first. A domain with 100,000 due rows therefore costs a claim as much as a
 * domain with one, and cannot push it out. Per domain, the due rows are read per priority with
 * a range scan (`priority = p AND next_attempt_at <= now`), so rows scheduled in the future are
 * never walked.
 *
 * @module
 */
import { type ExpressionBuilder, sql } from "kysely";
import type { Db } from "./client.ts";
import type { DeliveriesTable, DeliveryStatus, FerrySchema } from "./schema.ts";
import { deleteLeases } from "./leases.ts";
import { MESSAGE_COLUMNS, type MessageColumns, type MessageRow, toMessageRow } from "./messages.ts";

/** A delivery handed to an actor, under a lease. */
export interface ClaimedDelivery {
  readonly id: number;
  readonly outboxId: number;
  readonly recipient: string;
  readonly domain: string;
  readonly priority: number;
  readonly attempts: number;
  readonly expiresAt: Date;
  /** When the delivery was queued (the relay's clock at ingest). */
  readonly queuedAt: Date;
  readonly smtputf8: boolean;
  readonly leaseToken: number;
  readonly leaseExpiresAt: Date;
  readonly lastCode: number | null;
  readonly lastReply: string | null;
  /**
   * With `withMessages`: the outbox row's content, on the first claimed delivery of each message
   * (the others of the same message in the claim carry none).
   */
  readonly message?: MessageRow;
  /** The message's `from_address` (null once the outbox row is gone). */
  readonly fromAddress: string | null;
  /** The message's tenant tag: `metadata ->> tenantKey` as text, when asked for. */
  readonly tenant: string | null;
}

export interface ClaimOptions {
  readonly owner: string;
  readonly now: Date;
  readonly leaseMs: number;
}

// raw SQL: a fragment of the raw statements below.
const READY = sql`status IN ('queued', 'deferred')`;

function positive(name: string, value: number): void {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(
      `Cannot claim a batch as '${name}' must be > 0: current value is ${value}`,
    );
  }
}

/**
 * Claims due deliveries for many domains in one statement: up to `limit` rows of each requested
 * domain, highest priority and oldest first, extended by the due recipients of the same messages
 * at that domain so a message is never split between claims, skipping suspended domains and,
 * with `holder`, domains whose lease that owner does not hold. One round trip however many
 * destinations the supervisor feeds in a pass.
 */
export async function claimDomains(
  db: Db,
  o: ClaimOptions & {
    readonly requests: readonly { readonly domain: string; readonly limit: number }[];
    readonly holder?: string;
    /**
     * Also read each claimed message's outbox row in the same statement, so sending needs no
     * statement of its own to load the content.
     */
    readonly withMessages?: boolean;
    /** The `metadata` key whose value is the message's tenant (per-sender limits). */
    readonly tenantKey?: string;
  },
): Promise<ClaimedDelivery[]> {
  positive("leaseMs", o.leaseMs);
  const requests = o.requests.filter((r) => r.limit > 0);
  if (requests.length === 0) return [];
  const lim = sql`req.lim`;
  // raw SQL: an unnest batch of requests, LATERAL range scans per priority, FOR UPDATE SKIP LOCKED.
  const { rows } = await sql<ClaimRow>`
    WITH req AS (
      SELECT * FROM unnest(${requests.map((r) => r.domain)}::text[],
                           ${requests.map((r) => Math.floor(r.limit))}::int[]) AS r(domain, lim)
       WHERE NOT EXISTS (SELECT 1 FROM ferry.domain_suspensions s
                          WHERE s.domain = r.domain AND s.until > ${o.now})
         ${
    o.holder === undefined ? sql`` : sql`AND EXISTS (
           SELECT 1 FROM ferry.leases l
            WHERE l.name = 'domain:' || r.domain AND l.owner = ${o.holder}
              AND l.expires_at > ${o.now})`
  }
    ),
    first AS (
      SELECT req.domain, c.id, c.outbox_id FROM req CROSS JOIN LATERAL (
        SELECT * FROM (
          ${dueInDomain(sql`req.domain`, 0, o.now, lim)}
          UNION ALL ${dueInDomain(sql`req.domain`, 1, o.now, lim)}
          UNION ALL ${dueInDomain(sql`req.domain`, 2, o.now, lim)}
        ) u ORDER BY priority, next_attempt_at, id LIMIT req.lim
      ) c
    ),
    -- The cap cuts whole messages only: the last messages' other due recipients at the same
    -- destination come along, so one message travels in one transaction (deliveries_outbox).
    cand AS (
      SELECT id FROM first
      UNION
      SELECT d.id FROM (SELECT DISTINCT domain, outbox_id FROM first) m
        JOIN ferry.deliveries d ON d.outbox_id = m.outbox_id AND d.domain = m.domain
       WHERE d.status IN ('queued', 'deferred') AND d.next_attempt_at <= ${o.now}
    ),
    locked AS (
      SELECT d.id FROM ferry.deliveries d JOIN cand ON cand.id = d.id
       WHERE d.${READY} AND d.next_attempt_at <= ${o.now}
       ORDER BY d.id
         FOR UPDATE OF d SKIP LOCKED
    ),
    ${leaseUpdate(o)}
    ${claimedRows(o)}`.execute(db);
  return rows.map(toClaimed);
}

/**
 * The claimed rows, each with its message's sender (and tenant tag, for per-sender limits); with
 * `withMessages`, the first of each message also carries its outbox row's columns (prefixed
 * `m_`): content travels once per message, however many of its recipients the claim took.
 */
// raw SQL: the final SELECT of the claim statement, joining the outbox row once per claimed row.
function claimedRows(o: { readonly withMessages?: boolean; readonly tenantKey?: string }) {
  const tenant = o.tenantKey === undefined ? sql`NULL` : sql`o.metadata ->> ${o.tenantKey}`;
  const content = o.withMessages
    ? sql.join(
      MESSAGE_COLUMNS.map((c) =>
        sql`CASE WHEN u.nth = 1 THEN o.${sql.ref(c)} END AS ${sql.ref(`m_${c}`)}`
      ),
    )
    : sql`NULL AS m_id`;
  return sql`
    SELECT u.*, o.from_address, ${tenant} AS tenant, ${content}
      FROM (SELECT upd.*, row_number() OVER (PARTITION BY upd.outbox_id ORDER BY upd.id) AS nth
              FROM upd) u
      LEFT JOIN ferry.outbox o ON o.id = u.outbox_id
     ORDER BY u.priority, u.id`;
}

/**
 * Destinations with due work that this owner may take: not suspended, not leased by another
 * live instance: a skip scan over the distinct domains of the ready rows, resumed after `cursor`.
 */
export async function readyDomains(
  db: Db,
  o: {
    readonly cursor: string;
    readonly limit: number;
    readonly now: Date;
    readonly owner: string;
  },
): Promise<{ domains: string[]; cursor: string }> {
  positive("limit", o.limit);
  // raw SQL: a recursive skip scan over the distinct domains.
  const { rows } = await sql<{ domain: string | null; visited: number; usable: boolean }>`
    WITH RECURSIVE doms(domain, n) AS (
      (SELECT domain, 1 FROM ferry.deliveries
        WHERE ${READY} AND domain > ${o.cursor} ORDER BY domain LIMIT 1)
      UNION ALL
      SELECT (SELECT d.domain FROM ferry.deliveries d
               WHERE d.status IN ('queued', 'deferred') AND d.domain > doms.domain
               ORDER BY d.domain LIMIT 1), doms.n + 1
        FROM doms WHERE doms.domain IS NOT NULL AND doms.n < ${o.limit}
    )
    SELECT doms.domain, (SELECT count(domain)::int FROM doms) AS visited,
           EXISTS (${dueInDomain(sql`doms.domain`, 0, o.now, 1)}
                   UNION ALL ${dueInDomain(sql`doms.domain`, 1, o.now, 1)}
                   UNION ALL ${dueInDomain(sql`doms.domain`, 2, o.now, 1)})
           AND NOT EXISTS (SELECT 1 FROM ferry.domain_suspensions s
                            WHERE s.domain = doms.domain AND s.until > ${o.now})
           AND NOT EXISTS (SELECT 1 FROM ferry.leases l
                            WHERE l.name = 'domain:' || doms.domain AND l.owner <> ${o.owner}
                              AND l.expires_at > ${o.now}) AS usable
      FROM doms WHERE doms.domain IS NOT NULL ORDER BY doms.domain`.execute(db);
  const last = rows.at(-1);
  const visited = last?.visited ?? 0;
  return {
    domains: rows.filter((r) => r.usable).map((r) => r.domain!),
    cursor: visited >= o.limit && last?.domain ? last.domain : "",
  };
}

// raw SQL: a fragment of the claim and the skip scan (one range scan per priority).
function dueInDomain(
  domain: ReturnType<typeof sql>,
  priority: number,
  now: Date,
  limit: number | ReturnType<typeof sql>,
) {
  return sql`(SELECT id, outbox_id, priority, next_attempt_at FROM ferry.deliveries
               WHERE domain = ${domain} AND status IN ('queued', 'deferred')
                 AND priority = ${sql.lit(priority)} AND next_attempt_at <= ${now}
               ORDER BY next_attempt_at, id LIMIT ${limit})`;
}

// raw SQL: a fragment of the claim statements (a data-modifying CTE with one fencing token).
function leaseUpdate(o: ClaimOptions) {
  return sql`
    fence AS (SELECT nextval('ferry.fence') AS token),
    upd AS (
      UPDATE ferry.deliveries d
         SET status = 'sending', lease_owner = ${o.owner}, lease_token = fence.token,
             lease_expires_at = ${new Date(o.now.getTime() + o.leaseMs)}, updated_at = ${o.now}
        FROM locked, fence
       WHERE d.id = locked.id
      RETURNING d.id, d.outbox_id, d.recipient, d.domain, d.priority, d.attempts, d.expires_at,
                d.created_at, d.smtputf8, d.lease_token, d.lease_expires_at, d.last_code, d.last_reply
    )`;
}

interface ClaimRow {
  id: number;
  outbox_id: number;
  recipient: string;
  domain: string;
  priority: number;
  attempts: number;
  expires_at: Date;
  created_at: Date;
  smtputf8: boolean;
  lease_token: number;
  lease_expires_at: Date;
  last_code: number | null;
  last_reply: string | null;
  /** With `withMessages`, on the first row of each message whose outbox row still exists. */
  m_id?: number | null;
  from_address?: string | null;
  tenant?: string | null;
}

function toClaimed(r: ClaimRow): ClaimedDelivery {
  const claimed = {
    id: r.id,
    outboxId: r.outbox_id,
    recipient: r.recipient,
    domain: r.domain,
    priority: r.priority,
    attempts: r.attempts,
    expiresAt: new Date(r.expires_at),
    queuedAt: new Date(r.created_at),
    smtputf8: r.smtputf8,
    leaseToken: Number(r.lease_token),
    leaseExpiresAt: new Date(r.lease_expires_at),
    lastCode: r.last_code,
    lastReply: r.last_reply,
    fromAddress: r.from_address ?? null,
    tenant: r.tenant ?? null,
  };
  return r.m_id == null ? claimed : { ...claimed, message: toMessageRow(outboxColumns(r)) };
}

/** The `m_`-prefixed outbox columns of a claimed row, as the outbox row they come from. */
function outboxColumns(r: ClaimRow): MessageColumns {
  const row: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) if (k.startsWith("m_")) row[k.slice(2)] = v;
  return row as MessageColumns;
}

/** What happened to one claimed delivery. */
export interface Outcome {
  readonly id: number;
  readonly leaseToken: number;
  readonly status: "delivered" | "deferred" | "bounced" | "expired" | "cancelled" | "suppressed";
  /** Whether an SMTP attempt was made (counts in `attempts`). */
  readonly attempted: boolean;
  readonly code?: number | null;
  readonly enhanced?: string | null;
  readonly reply?: string | null;
  readonly mxHost?: string | null;
  /** For `deferred`: when to try again. At or past `expires_at` the row becomes `expired`. */
  readonly nextAttemptAt?: Date | null;
  readonly tls?: boolean | null;
  /** How the session's TLS was decided (policy, reason, verified), kept in the event row. */
  readonly tlsDetail?: object | null;
  readonly durationMs?: number | null;
  readonly bounceClass?: string | null;
  /** Add the recipient to suppressions with this reason (a 5xx "no such user"). */
  readonly suppress?: { readonly reason: string; readonly until: Date | null } | null;
}

export interface RecordResult {
  /** Ids whose outcome was written. */
  readonly applied: number[];
  /** Ids refused: their lease was lost (expired and claimed again, or released). */
  readonly refused: number[];
}

/**
 * Writes many outcomes in one statement (`unnest` of arrays), plus one event row each, plus
 * suppressions. Only rows still `sending` under the same lease token are touched.
 */
export async function recordOutcomes(
  db: Db,
  outcomes: readonly Outcome[],
  o: { readonly now: Date; readonly instance?: string },
): Promise<RecordResult> {
  if (outcomes.length === 0) return { applied: [], refused: [] };
  const col = <T>(f: (x: Outcome) => T) => outcomes.map(f);
  // raw SQL: an unnest batch feeding an UPDATE and two INSERTs in one statement.
  const { rows } = await sql<{ id: number }>`
    WITH o AS (
      SELECT * FROM unnest(
        ${col((x) => x.id)}::bigint[], ${col((x) => x.leaseToken)}::bigint[],
        ${col((x) => x.status)}::text[], ${col((x) => x.attempted)}::boolean[],
        ${col((x) => x.code ?? null)}::smallint[], ${col((x) => x.enhanced ?? null)}::text[],
        ${col((x) => x.reply ?? null)}::text[], ${col((x) => x.mxHost ?? null)}::text[],
        ${col((x) => x.nextAttemptAt ?? null)}::timestamptz[], ${
    col((x) => x.tls ?? null)
  }::boolean[],
        ${col((x) => x.durationMs ?? null)}::integer[], ${
    col((x) => x.bounceClass ?? null)
  }::text[],
        ${col((x) => x.suppress?.reason ?? null)}::text[],
        ${col((x) => x.suppress?.until ?? null)}::timestamptz[],
        ${col((x) => x.tlsDetail ? JSON.stringify(x.tlsDetail) : null)}::jsonb[]
      ) AS o(id, token, status, attempted, code, enhanced, reply, mx_host, next_at, tls,
             duration_ms, bounce_class, suppress_reason, suppress_until, tls_detail)
    ),
    upd AS (
      UPDATE ferry.deliveries d
         SET status = CASE WHEN o.status = 'deferred'
                            AND coalesce(o.next_at, ${o.now}) >= d.expires_at
                           THEN 'expired' ELSE o.status END,
             attempts = d.attempts + CASE WHEN o.attempted THEN 1 ELSE 0 END,
             next_attempt_at = coalesce(o.next_at, d.next_attempt_at),
             last_code = coalesce(o.code, d.last_code),
             last_reply = coalesce(o.reply, d.last_reply),
             mx_host = coalesce(o.mx_host, d.mx_host),
             bounce_class = coalesce(o.bounce_class, d.bounce_class),
             delivered_at = CASE WHEN o.status = 'delivered' THEN ${o.now}::timestamptz
                                 ELSE d.delivered_at END,
             updated_at = ${o.now},
             lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
        FROM o
       WHERE d.id = o.id AND d.lease_token = o.token AND d.status = 'sending'
      RETURNING d.id, d.outbox_id, d.recipient, d.status
    ),
    ev AS (
      INSERT INTO ferry.events (delivery_id, outbox_id, at, kind, mx_host, code, enhanced, reply,
                                tls, tls_detail, duration_ms, instance)
      SELECT upd.id, upd.outbox_id, ${o.now}, upd.status, o.mx_host, o.code, o.enhanced, o.reply,
             o.tls, o.tls_detail, o.duration_ms, ${o.instance ?? null}
        FROM upd JOIN o ON o.id = upd.id
    ),
    sup AS (
      INSERT INTO ferry.suppressions (address, reason, source, created_at, expires_at)
      SELECT DISTINCT ON (lower(upd.recipient)) lower(upd.recipient), o.suppress_reason, 'bounce',
             ${o.now}, o.suppress_until
        FROM upd JOIN o ON o.id = upd.id
       WHERE o.suppress_reason IS NOT NULL
      ON CONFLICT (address, sender_domain) DO UPDATE
        SET reason = excluded.reason, expires_at = excluded.expires_at
    )
    SELECT id FROM upd`.execute(db);
  const applied = rows.map((r) => Number(r.id));
  const ok = new Set(applied);
  return { applied, refused: outcomes.map((x) => x.id).filter((id) => !ok.has(id)) };
}

/**
 * Hands claimed deliveries back without an attempt (a throttled, suspended or unreachable
 * destination): they become ready again at `nextAttemptAt`, attempts unchanged.
 */
export async function releaseClaims(
  db: Db,
  claims: readonly { readonly id: number; readonly leaseToken: number }[],
  o: { readonly now: Date; readonly nextAttemptAt: Date },
): Promise<RecordResult> {
  if (claims.length === 0) return { applied: [], refused: [] };
  // raw SQL: an unnest batch of (id, token) pairs.
  const { rows } = await sql<{ id: number }>`
    UPDATE ferry.deliveries d
       SET status = CASE WHEN d.attempts = 0 THEN 'queued' ELSE 'deferred' END,
           next_attempt_at = greatest(d.next_attempt_at, ${o.nextAttemptAt}::timestamptz),
           updated_at = ${o.now}, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
      FROM unnest(${claims.map((c) => c.id)}::bigint[], ${
    claims.map((c) => c.leaseToken)
  }::bigint[])
           AS c(id, token)
     WHERE d.id = c.id AND d.lease_token = c.token AND d.status = 'sending'
    RETURNING d.id`.execute(db);
  const applied = rows.map((r) => Number(r.id));
  const ok = new Set(applied);
  return { applied, refused: claims.map((c) => c.id).filter((id) => !ok.has(id)) };
}

/**
 * A `sending` row's way back to the ready set: no lease, `queued` if it was never attempted,
 * `deferred` otherwise.
 */
function unleased(eb: ExpressionBuilder<FerrySchema & { d: DeliveriesTable }, "d">) {
  return {
    status: eb.case().when("d.attempts", "=", 0).then("queued" as DeliveryStatus)
      .else("deferred" as DeliveryStatus).end(),
    lease_owner: null,
    lease_token: null,
    lease_expires_at: null,
  };
}

/**
 * Returns deliveries whose lease expired (a crashed or partitioned instance) to the ready set.
 * Bounded per call so it never holds many row locks at once. Returns how many came back.
 */
export async function reapExpiredLeases(
  db: Db,
  o: { readonly now: Date; readonly limit?: number },
): Promise<number> {
  const r = await db
    .with("gone", (q) =>
      q.selectFrom("ferry.deliveries").select("id")
        .where("status", "=", "sending").where("lease_expires_at", "<", o.now)
        .limit(o.limit ?? 1000)
        .forUpdate().skipLocked())
    .updateTable("ferry.deliveries as d")
    .from("gone")
    .set((eb) => ({ ...unleased(eb), updated_at: o.now }))
    .whereRef("d.id", "=", "gone.id")
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/**
 * At start, an instance with a stable identity takes back at once what it held when it stopped
 * uncleanly (a crash, kill -9): its own `sending` rows return to the ready set without waiting for
 * their leases to run out. Only the owner may do this: nobody else can know that the holder is
 * gone. Returns how many came back.
 */
export async function reclaimOwnLeases(
  db: Db,
  o: { readonly owner: string; readonly now: Date },
): Promise<number> {
  const r = await db.updateTable("ferry.deliveries as d")
    .set((eb) => ({ ...unleased(eb), updated_at: o.now }))
    .where("d.status", "=", "sending").where("d.lease_owner", "=", o.owner)
    .executeTakeFirst();
  // The leases go in name order, as every statement that writes several lease rows does.
  await deleteLeases(db, o.owner);
  return Number(r.numUpdatedRows);
}

/**
 * {@link reapExpiredLeases} in batches of `limit` (default 1000) while a batch comes back full,
 * at most `maxBatches` (default 50) times: after a crashed instance there may be far more than
 * one batch to bring back, and waiting a reaper tick per batch would leave them stuck for minutes.
 * Each batch is its own statement, so no more than `limit` row locks are held at once.
 */
export async function reapAllExpiredLeases(
  db: Db,
  o: { readonly now: Date; readonly limit?: number; readonly maxBatches?: number },
): Promise<number> {
  const limit = o.limit ?? 1000;
  const maxBatches = o.maxBatches ?? 50;
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await reapExpiredLeases(db, { now: o.now, limit });
    total += n;
    if (n < limit) break;
  }
  return total;
}

export interface CancelResult {
  readonly cancelled: number;
  /** Deliveries of the message currently being sent: they finish (or fail) on their own. */
  readonly inFlight: number;
}

/** Cancels every queued or deferred delivery of an outbox row. */
export async function cancelMessage(
  db: Db,
  outboxId: number,
  o: {
    readonly now: Date;
    readonly reason?: string;
    /** The API key name acting, recorded on the events. */
    readonly actor?: string;
  },
): Promise<CancelResult> {
  return await db.transaction().execute(async (tx) => {
    const rows = await tx.updateTable("ferry.deliveries")
      .set({
        status: "cancelled",
        updated_at: o.now,
        last_reply: o.reason ?? "cancelled by operator",
      })
      .where("outbox_id", "=", outboxId).where("status", "in", ["queued", "deferred"])
      .returning("id").execute();
    if (rows.length > 0) {
      // raw SQL: an unnest batch, one statement shape however many recipients the message has.
      await sql`
        INSERT INTO ferry.events (delivery_id, outbox_id, at, kind, reply, actor)
        SELECT id, ${outboxId}, ${o.now}, 'cancelled', ${o.reason ?? "cancelled by operator"},
               ${o.actor ?? null}::text
          FROM unnest(${rows.map((r) => r.id)}::bigint[]) AS id`.execute(tx);
    }
    const inFlight = await tx.selectFrom("ferry.deliveries")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("outbox_id", "=", outboxId).where("status", "=", "sending")
      .executeTakeFirstOrThrow();
    return { cancelled: rows.length, inFlight: Number(inFlight.n) };
  });
}

/** Counts deliveries by status (the admin queue view, metrics). */
export async function countByStatus(db: Db): Promise<Record<DeliveryStatus, number>> {
  const rows = await db.selectFrom("ferry.deliveries")
    .select(["status", (eb) => eb.fn.countAll<number>().as("n")])
    .groupBy("status").execute();
  const out = Object.fromEntries(
    [
      "queued",
      "sending",
      "deferred",
      "delivered",
      "bounced",
      "expired",
      "cancelled",
      "suppressed",
      "rejected",
    ]
      .map((s) => [s, 0]),
  ) as Record<DeliveryStatus, number>;
  for (const r of rows) out[r.status] = Number(r.n);
  return out;
}
