/**
 * Ingestion: new outbox rows become one delivery per recipient.
 *
 * One short transaction per batch: lock up to `limit` un-ingested outbox rows with
 * `FOR UPDATE SKIP LOCKED` (so several instances ingest side by side and a row inserted by a
 * transaction that rolled back is simply never seen), validate each row in TypeScript, insert all
 * deliveries of the batch in one `unnest` statement, and mark the rows ingested. A bad row gets
 * `rejected` deliveries with the reason and never blocks its neighbours.
 *
 * Claim on ingest: with `claim`, the same transaction also claims, through `claimDomains` (lease
 * check, fencing token, whole messages), the due deliveries of the batch's destinations whose
 * lease this instance holds and whose actor has room, so a new mail to a destination already being
 * served is on its way at this commit, without a second commit and a supervisor pass. The leases
 * are checked in the transaction, so across instances a destination's rows go only to its holder.
 *
 * Poison rows: timestamps are read as epoch milliseconds (a float, where `infinity` and years past
 * 275760 are representable), never as driver-built `Date`s, so a value PostgreSQL accepts but
 * JavaScript cannot hold becomes a rejection reason instead of an exception. Should a batch still
 * fail as a whole for a reason that is not the database going away, it is split in halves until
 * the row at fault is found; that row alone is rejected with the error, the others go on.
 *
 * @module
 */
import { sql } from "kysely";
import type { Db } from "./client.ts";
import { anyText } from "./sql_fragments.ts";
import { claimDomains, type ClaimedDelivery } from "./queue.ts";
import { parseMailbox } from "../lib/message/address.ts";
import {
  DEFAULT_LIMITS,
  type OutboxRowInput,
  validateRow,
  type ValidationLimits,
} from "../lib/message/validate.ts";

export interface IngestOptions {
  readonly now: Date;
  /** Rows per batch. */
  readonly limit?: number;
  /** Queue lifetime for rows without `expires_at` (default 5 days). */
  readonly maxLifetimeMs?: number;
  readonly limits?: ValidationLimits;
  /**
   * Tells an error of the database connection (retry the batch later) from one a row caused
   * (split the batch to find the row). Default: every error is the database's, so it is thrown.
   */
  readonly isConnectionError?: (err: unknown) => boolean;
  /**
   * Why a raw message cannot be sent as it is (a malformed header block, no From, a line too long
   * for SMTP), so that it is `rejected` here rather than bounced by Ferry at send time. Each raw
   * message is read on its own, so a batch never holds more than one in memory.
   */
  readonly checkRaw?: (
    message: Uint8Array,
    row: { readonly listUnsubscribe: boolean },
  ) => string | undefined;
  /**
   * Whether one-click unsubscribe (RFC 8058) is configured (a public URL and a token key). When
   * it is not, a row with `list_unsubscribe` is rejected with the reason: sending it without
   * the header its application asked for would break that application's promise to recipients.
   */
  readonly listUnsubscribe?: boolean;
  /** Claims, in the same transaction, for the destinations this instance holds (see above). */
  readonly claim?: IngestClaim;
}

export interface IngestClaim {
  /** This instance: the lease holder that claims. */
  readonly owner: string;
  /** Lease on the claimed deliveries. */
  readonly leaseMs: number;
  /** Of the batch's destinations, those to claim for and how many each (none: claim nothing). */
  readonly requests: (
    domains: readonly string[],
  ) => readonly { readonly domain: string; readonly limit: number }[];
  /** Also read each claimed message's outbox row (see `claimDomains`). */
  readonly withMessages?: boolean;
  /** The `metadata` key of the tenant tag (per-sender limits; see `claimDomains`). */
  readonly tenantKey?: string;
}

export interface IngestResult {
  /** Outbox rows taken by this batch. */
  readonly rows: number;
  /** Rows rejected as a whole. */
  readonly rejectedRows: number;
  readonly queued: number;
  readonly rejected: number;
  readonly suppressed: number;
  /** Deliveries claimed in the ingest transaction (with `claim`), to hand to their actors. */
  readonly claimed: readonly ClaimedDelivery[];
}

/** A failure of the claim inside an ingest batch: the batch is retried without claiming. */
class IngestClaimError extends Error {
  constructor(cause: unknown) {
    super(`Cannot claim on ingest: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = "IngestClaimError";
  }
}

export const DEFAULT_MAX_LIFETIME_MS = 5 * 24 * 3600 * 1000;

interface PendingRow extends OutboxRowInput {
  /** Epoch milliseconds as PostgreSQL computed them: may be ±Infinity or beyond `Date`'s range. */
  readonly send_at_ms: number | string | null;
  readonly expires_at_ms: number | string | null;
}

/** The largest magnitude a JavaScript `Date` holds (ECMA-262 §21.4.1.1), in milliseconds. */
const MAX_DATE_MS = 8.64e15;

/** A timestamp column read as epoch milliseconds, or the reason it cannot be used. */
export function timestampFromEpochMs(
  column: string,
  value: number | string | null,
): { ok: true; date: Date } | { ok: false; reason: string } {
  const ms = typeof value === "string" ? Number(value) : value;
  if (ms === null || Number.isNaN(ms)) {
    return { ok: false, reason: `${column} is not a timestamp Ferry can read` };
  }
  if (!Number.isFinite(ms)) {
    return { ok: false, reason: `${column} is ${ms > 0 ? "infinity" : "-infinity"}` };
  }
  if (Math.abs(ms) > MAX_DATE_MS) {
    return {
      ok: false,
      reason: `${column} is outside the range Ferry can represent (years -271821 to 275760)`,
    };
  }
  // Whole milliseconds, truncated as the drivers do when they read a timestamp themselves.
  return { ok: true, date: new Date(Math.floor(ms)) };
}

const UNSUBSCRIBE_OFF = "list_unsubscribe is set but one-click unsubscribe is not configured " +
  "on this relay (unsubscribe.publicUrl and unsubscribe.secret or secretFile)";

interface NewDelivery {
  /** The From domain, for suppressions scoped to a sender domain (not a column). */
  sender_domain: string;
  outbox_id: number;
  recipient: string;
  domain: string;
  status: "queued" | "rejected" | "suppressed";
  next_attempt_at: Date;
  last_reply: string | null;
  priority: number;
  expires_at: Date;
  smtputf8: boolean;
}

/** Ingests one batch. Returns counts; `rows === 0` means nothing was pending. */
export async function ingestOutbox(db: Db, options: IngestOptions): Promise<IngestResult> {
  const limit = options.limit ?? 500;
  if (!(limit > 0)) {
    throw new RangeError(`Cannot ingest a batch as 'limit' must be > 0: current value is ${limit}`);
  }
  try {
    try {
      return await ingestBatch(db, options, { limit });
    } catch (err) {
      // The rows are not at fault: ingest them without claiming (the supervisor claims them).
      if (!(err instanceof IngestClaimError)) throw err;
      if (options.isConnectionError?.(err.cause) ?? true) throw err.cause;
      return await ingestBatch(db, { ...options, claim: undefined }, { limit });
    }
  } catch (err) {
    if (options.isConnectionError?.(err) ?? true) throw err;
    return await ingestSplitting(db, options, await pendingIds(db, limit), err);
  }
}

const EMPTY: IngestResult = {
  rows: 0,
  rejectedRows: 0,
  queued: 0,
  rejected: 0,
  suppressed: 0,
  claimed: [],
};

function sum(a: IngestResult, b: IngestResult): IngestResult {
  return {
    rows: a.rows + b.rows,
    rejectedRows: a.rejectedRows + b.rejectedRows,
    queued: a.queued + b.queued,
    rejected: a.rejected + b.rejected,
    suppressed: a.suppressed + b.suppressed,
    claimed: [...a.claimed, ...b.claimed],
  };
}

async function pendingIds(db: Db, limit: number): Promise<number[]> {
  const rows = await db.selectFrom("ferry.outbox").select("id").where("ingested_at", "is", null)
    .orderBy("id").limit(limit).execute();
  return rows.map((r) => Number(r.id));
}

/**
 * Bisects a batch that failed as a whole: each half is ingested on its own, and a single row that
 * still fails is rejected with the error, so one poison row costs itself and nothing more.
 */
async function ingestSplitting(
  db: Db,
  options: IngestOptions,
  ids: readonly number[],
  cause: unknown,
): Promise<IngestResult> {
  if (ids.length === 0) return EMPTY;
  if (ids.length === 1) return await rejectPoisonRow(db, options.now, ids[0]!, cause);
  const half = Math.ceil(ids.length / 2);
  let total = EMPTY;
  // While looking for the row at fault, nothing is claimed: the supervisor claims as usual.
  const plain = { ...options, claim: undefined };
  for (const part of [ids.slice(0, half), ids.slice(half)]) {
    try {
      total = sum(total, await ingestBatch(db, plain, { limit: part.length, ids: part }));
    } catch (err) {
      if (options.isConnectionError?.(err) ?? true) throw err;
      total = sum(total, await ingestSplitting(db, plain, part, err));
    }
  }
  return total;
}

async function rejectPoisonRow(
  db: Db,
  now: Date,
  id: number,
  cause: unknown,
): Promise<IngestResult> {
  const reason = `cannot ingest row: ${cause instanceof Error ? cause.message : String(cause)}`
    .slice(0, 1000);
  return await db.transaction().execute(async (tx) => {
    const taken = await tx.updateTable("ferry.outbox")
      .set({ ingested_at: now, reject_reason: reason })
      .where("id", "=", id).where("ingested_at", "is", null)
      .returning("id").executeTakeFirst();
    if (!taken) return EMPTY;
    await tx.insertInto("ferry.deliveries")
      .values({
        outbox_id: id,
        recipient: "",
        domain: "",
        status: "rejected",
        next_attempt_at: now,
        last_reply: reason,
        priority: 1,
        expires_at: now,
        smtputf8: false,
        updated_at: now,
      })
      .execute();
    return { ...EMPTY, rows: 1, rejectedRows: 1, rejected: 1 };
  });
}

async function ingestBatch(
  db: Db,
  options: IngestOptions,
  scope: { limit: number; ids?: readonly number[] },
): Promise<IngestResult> {
  const lifetime = options.maxLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS;
  const limits = options.limits ?? DEFAULT_LIMITS;
  const now = options.now;
  const only = scope.ids ? sql`AND id = ANY(${[...scope.ids]}::bigint[])` : sql``;

  return await db.transaction().execute(async (tx) => {
    // raw SQL: FOR UPDATE SKIP LOCKED claim; timestamps read through extract(epoch FROM ...)
    const { rows } = await sql<PendingRow>`
      SELECT id, from_address, to_addresses, cc_addresses, bcc_addresses, reply_to, subject,
             text_body IS NOT NULL AS has_text, html_body IS NOT NULL AS has_html, headers,
             raw_message IS NOT NULL AS has_raw,
             (coalesce(octet_length(raw_message), 0) + coalesce(octet_length(subject), 0)
               + coalesce(octet_length(text_body), 0) + coalesce(octet_length(html_body), 0)
               + coalesce(octet_length(headers::text), 0)
               + coalesce(octet_length(attachments::text), 0))::bigint AS size,
             attachments IS NOT NULL AS has_attachments,
             priority, require_tls, list_unsubscribe,
             (extract(epoch FROM coalesce(send_at, created_at)) * 1000)::float8 AS send_at_ms,
             (extract(epoch FROM coalesce(expires_at,
                created_at + ${lifetime} * interval '1 millisecond')) * 1000)::float8
               AS expires_at_ms
        FROM ferry.outbox
       WHERE ingested_at IS NULL ${only}
       ORDER BY id
       LIMIT ${scope.limit}
         FOR UPDATE SKIP LOCKED`.execute(tx);
    if (rows.length === 0) return EMPTY;

    const deliveries: NewDelivery[] = [];
    const rowReasons: (string | null)[] = [];
    const expiries: (Date | null)[] = [];
    for (const row of rows) {
      const rawProblem = row.has_raw && options.checkRaw && row.size <= limits.maxMessageSize
        ? options.checkRaw(await rawMessage(tx, row.id), {
          listUnsubscribe: row.list_unsubscribe === true,
        })
        : undefined;
      const attachments = row.has_attachments && row.size <= limits.maxMessageSize
        ? await attachmentsOf(tx, row.id)
        : null;
      const out = expandRow(
        { ...row, raw_problem: rawProblem ?? null, attachments },
        limits,
        now,
        options.listUnsubscribe === true,
      );
      deliveries.push(...out.deliveries);
      rowReasons.push(out.rowReason);
      expiries.push(out.expiresAt);
    }
    await markSuppressed(tx, deliveries, now);

    // The deliveries and the rows' ingested mark in one statement: one round trip fewer in the
    // transaction that every new mail waits for. A row whose own expires_at could not be read
    // keeps it as the application wrote it.
    const col = <K extends keyof NewDelivery>(k: K) => deliveries.map((d) => d[k]);
    // raw SQL: a batch of any size as one INSERT ... unnest and one UPDATE ... FROM unnest
    await sql`
      WITH added AS (
        INSERT INTO ferry.deliveries (outbox_id, recipient, domain, status, next_attempt_at,
                                      last_reply, priority, expires_at, smtputf8, created_at,
                                      updated_at)
        SELECT o, r, d, s, n, l, p, e, u, ${now}::timestamptz, ${now}::timestamptz
          FROM unnest(${col("outbox_id")}::bigint[], ${col("recipient")}::text[],
                      ${col("domain")}::text[], ${col("status")}::text[],
                      ${col("next_attempt_at")}::timestamptz[], ${col("last_reply")}::text[],
                      ${col("priority")}::smallint[], ${col("expires_at")}::timestamptz[],
                      ${col("smtputf8")}::boolean[]) AS t(o, r, d, s, n, l, p, e, u)
      )
      UPDATE ferry.outbox o
         SET ingested_at = ${now}, reject_reason = v.reason,
             expires_at = coalesce(v.expires_at, o.expires_at)
        FROM unnest(${rows.map((r) => r.id)}::bigint[], ${rowReasons}::text[],
                    ${expiries}::timestamptz[]) AS v(id, reason, expires_at)
       WHERE o.id = v.id`.execute(tx);

    const claimed = options.claim ? await claimNew(tx, options.claim, deliveries, now) : [];
    const count = (s: NewDelivery["status"]) => deliveries.filter((d) => d.status === s).length;
    return {
      rows: rows.length,
      rejectedRows: rowReasons.filter((r) => r !== null).length,
      queued: count("queued"),
      rejected: count("rejected"),
      suppressed: count("suppressed"),
      claimed,
    };
  });
}

/** Claims, in the ingest transaction, for the destinations of the batch's queued deliveries. */
async function claimNew(
  tx: Db,
  claim: IngestClaim,
  deliveries: readonly NewDelivery[],
  now: Date,
): Promise<ClaimedDelivery[]> {
  const domains = [
    ...new Set(deliveries.filter((d) => d.status === "queued").map((d) => d.domain)),
  ];
  if (domains.length === 0) return [];
  const requests = claim.requests(domains);
  if (requests.length === 0) return [];
  try {
    return await claimDomains(tx, {
      requests,
      owner: claim.owner,
      holder: claim.owner,
      now,
      leaseMs: claim.leaseMs,
      ...(claim.withMessages ? { withMessages: true } : {}),
      ...(claim.tenantKey !== undefined ? { tenantKey: claim.tenantKey } : {}),
    });
  } catch (err) {
    throw new IngestClaimError(err);
  }
}

function expandRow(
  row: PendingRow,
  limits: ValidationLimits,
  now: Date,
  listUnsubscribe: boolean,
): { deliveries: NewDelivery[]; rowReason: string | null; expiresAt: Date | null } {
  const sendAt = timestampFromEpochMs("send_at", row.send_at_ms);
  const expiresAt = timestampFromEpochMs("expires_at", row.expires_at_ms);
  const from = row.from_address ? parseMailbox(row.from_address) : undefined;
  const base = {
    sender_domain: from?.ok ? from.mailbox.domain : "",
    outbox_id: row.id,
    next_attempt_at: sendAt.ok ? sendAt.date : now,
    priority: [0, 1, 2].includes(row.priority) ? row.priority : 1,
    expires_at: expiresAt.ok ? expiresAt.date : now,
    smtputf8: false,
  };
  let verdict: ReturnType<typeof validateRow>;
  try {
    const timeReason = !sendAt.ok ? sendAt.reason : !expiresAt.ok ? expiresAt.reason : undefined;
    const rowReason = timeReason ??
      (row.list_unsubscribe === true && !listUnsubscribe ? UNSUBSCRIBE_OFF : undefined);
    verdict = rowReason
      ? { kind: "rejected", reason: rowReason, recipients: recipientsOf(row) }
      : validateRow({ ...row, size: Number(row.size) }, limits);
  } catch (err) {
    // A bug in validation must cost one row, not the batch.
    verdict = {
      kind: "rejected" as const,
      reason: `internal validation error: ${err instanceof Error ? err.message : String(err)}`,
      recipients: [] as string[],
    };
  }
  const keptExpiry = expiresAt.ok ? expiresAt.date : null;
  if (verdict.kind === "rejected") {
    const recipients = verdict.recipients.length > 0 ? verdict.recipients : [""];
    return {
      expiresAt: keptExpiry,
      rowReason: verdict.reason,
      deliveries: [...new Set(recipients)].map((r) => ({
        ...base,
        recipient: r,
        domain: domainOf(r),
        status: "rejected",
        last_reply: verdict.reason,
      })),
    };
  }
  return {
    expiresAt: keptExpiry,
    rowReason: null,
    deliveries: verdict.recipients.map((r) =>
      r.ok
        ? {
          ...base,
          recipient: r.mailbox.address,
          domain: r.mailbox.domain,
          status: "queued",
          last_reply: null,
          smtputf8: r.mailbox.smtputf8,
        }
        : {
          ...base,
          recipient: r.input,
          domain: domainOf(r.input),
          status: "rejected",
          last_reply: r.reason,
        }
    ),
  };
}

async function attachmentsOf(tx: Db, id: number): Promise<unknown> {
  const r = await tx.selectFrom("ferry.outbox").select("attachments").where("id", "=", id)
    .executeTakeFirst();
  return r?.attachments ?? null;
}

async function rawMessage(tx: Db, id: number): Promise<Uint8Array> {
  const r = await tx.selectFrom("ferry.outbox").select("raw_message").where("id", "=", id)
    .executeTakeFirst();
  return r?.raw_message ?? new Uint8Array();
}

/** The recipient texts of a row, for the rejected deliveries of a row refused as a whole. */
function recipientsOf(row: OutboxRowInput): string[] {
  const all = [
    ...(row.to_addresses ?? []),
    ...(row.cc_addresses ?? []),
    ...(row.bcc_addresses ?? []),
  ];
  return all.filter((r): r is string => typeof r === "string").map((r) => r.slice(0, 998));
}

function domainOf(recipient: string): string {
  const at = recipient.lastIndexOf("@");
  return at < 0 ? "" : recipient.slice(at + 1).toLowerCase().slice(0, 255);
}

/**
 * Marks queued deliveries to suppressed addresses: a global entry (no sender domain) stops
 * every mail to the address, a scoped one only mail whose From is in that domain.
 */
async function markSuppressed(tx: Db, deliveries: NewDelivery[], now: Date): Promise<void> {
  const queued = deliveries.filter((d) => d.status === "queued");
  if (queued.length === 0) return;
  const rows = await tx.selectFrom("ferry.suppressions")
    .select(["address", "reason", "sender_domain"])
    .where("address", "=", anyText([...new Set(queued.map((d) => d.recipient.toLowerCase()))]))
    .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]))
    .execute();
  if (rows.length === 0) return;
  const reasons = new Map<string, string>();
  for (const r of rows) {
    const key = `${r.address}\n${r.sender_domain ?? ""}`;
    reasons.set(key, r.reason);
  }
  for (const d of queued) {
    const address = d.recipient.toLowerCase();
    const reason = reasons.get(`${address}\n`) ??
      (d.sender_domain === "" ? undefined : reasons.get(`${address}\n${d.sender_domain}`));
    if (reason !== undefined) {
      d.status = "suppressed";
      d.last_reply = `suppressed: ${reason}`;
    }
  }
}
