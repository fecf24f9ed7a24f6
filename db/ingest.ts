/**
 * Ingestion: new outbox rows become one delivery per recipient.
 *
 * One short transaction per batch: lock up to `limit` un-ingested outbox rows with
 * `FOR UPDATE SKIP LOCKED` (so several instances ingest side by side and a row inserted by a
 * transaction that rolled back is simply never seen), validate each row in TypeScript, insert all
 * deliveries of the batch in one `unnest` statement, and mark the rows ingested. A bad row gets
 * `rejected` deliveries with the reason and never blocks its neighbours.
 *
 * @module
 */
import { sql } from "kysely";
import type { Db } from "./client.ts";
import {
  DEFAULT_LIMITS,
  type OutboxRowInput,
  validateRow,
  type ValidationLimits,
} from "./validate.ts";

export interface IngestOptions {
  readonly now: Date;
  /** Rows per batch. */
  readonly limit?: number;
  /** Queue lifetime for rows without `expires_at` (CONTRACT: default 5 days). */
  readonly maxLifetimeMs?: number;
  readonly limits?: ValidationLimits;
}

export interface IngestResult {
  /** Outbox rows taken by this batch. */
  readonly rows: number;
  /** Rows rejected as a whole. */
  readonly rejectedRows: number;
  readonly queued: number;
  readonly rejected: number;
  readonly suppressed: number;
}

export const DEFAULT_MAX_LIFETIME_MS = 5 * 24 * 3600 * 1000;

interface PendingRow extends OutboxRowInput {
  readonly send_at: Date;
  readonly expires_at: Date;
}

interface NewDelivery {
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
  const lifetime = options.maxLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS;
  const limits = options.limits ?? DEFAULT_LIMITS;
  const now = options.now;

  return await db.transaction().execute(async (tx) => {
    const { rows } = await sql<PendingRow>`
      SELECT id, from_address, to_addresses, cc_addresses, bcc_addresses, reply_to, subject,
             text_body IS NOT NULL AS has_text, html_body IS NOT NULL AS has_html, headers,
             raw_message IS NOT NULL AS has_raw,
             (coalesce(octet_length(raw_message), 0) + coalesce(octet_length(subject), 0)
               + coalesce(octet_length(text_body), 0) + coalesce(octet_length(html_body), 0)
               + coalesce(octet_length(headers::text), 0))::bigint AS size,
             priority, send_at,
             coalesce(expires_at, created_at + ${lifetime} * interval '1 millisecond') AS expires_at
        FROM ferry.outbox
       WHERE ingested_at IS NULL
       ORDER BY id
       LIMIT ${limit}
         FOR UPDATE SKIP LOCKED`.execute(tx);
    if (rows.length === 0) {
      return { rows: 0, rejectedRows: 0, queued: 0, rejected: 0, suppressed: 0 };
    }

    const deliveries: NewDelivery[] = [];
    const rowReasons: (string | null)[] = [];
    for (const row of rows) {
      const out = expandRow(row, limits);
      deliveries.push(...out.deliveries);
      rowReasons.push(out.rowReason);
    }
    await markSuppressed(tx, deliveries, now);

    if (deliveries.length > 0) {
      const col = <K extends keyof NewDelivery>(k: K) => deliveries.map((d) => d[k]);
      await sql`
        INSERT INTO ferry.deliveries (outbox_id, recipient, domain, status, next_attempt_at,
                                      last_reply, priority, expires_at, smtputf8, updated_at)
        SELECT o, r, d, s, n, l, p, e, u, ${now}::timestamptz
          FROM unnest(${col("outbox_id")}::bigint[], ${col("recipient")}::text[],
                      ${col("domain")}::text[], ${col("status")}::text[],
                      ${col("next_attempt_at")}::timestamptz[], ${col("last_reply")}::text[],
                      ${col("priority")}::smallint[], ${col("expires_at")}::timestamptz[],
                      ${col("smtputf8")}::boolean[]) AS t(o, r, d, s, n, l, p, e, u)`
        .execute(tx);
    }
    await sql`
      UPDATE ferry.outbox o
         SET ingested_at = ${now}, reject_reason = v.reason, expires_at = v.expires_at
        FROM unnest(${rows.map((r) => r.id)}::bigint[], ${rowReasons}::text[],
                    ${rows.map((r) => r.expires_at)}::timestamptz[]) AS v(id, reason, expires_at)
       WHERE o.id = v.id`.execute(tx);

    const count = (s: NewDelivery["status"]) => deliveries.filter((d) => d.status === s).length;
    return {
      rows: rows.length,
      rejectedRows: rowReasons.filter((r) => r !== null).length,
      queued: count("queued"),
      rejected: count("rejected"),
      suppressed: count("suppressed"),
    };
  });
}

function expandRow(
  row: PendingRow,
  limits: ValidationLimits,
): { deliveries: NewDelivery[]; rowReason: string | null } {
  const base = {
    outbox_id: row.id,
    next_attempt_at: row.send_at,
    priority: [0, 1, 2].includes(row.priority) ? row.priority : 1,
    expires_at: row.expires_at,
    smtputf8: false,
  };
  let verdict;
  try {
    verdict = validateRow({ ...row, size: Number(row.size) }, limits);
  } catch (err) {
    // A bug in validation must cost one row, not the batch.
    verdict = {
      kind: "rejected" as const,
      reason: `internal validation error: ${err instanceof Error ? err.message : String(err)}`,
      recipients: [] as string[],
    };
  }
  if (verdict.kind === "rejected") {
    const recipients = verdict.recipients.length > 0 ? verdict.recipients : [""];
    return {
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

function domainOf(recipient: string): string {
  const at = recipient.lastIndexOf("@");
  return at < 0 ? "" : recipient.slice(at + 1).toLowerCase().slice(0, 255);
}

async function markSuppressed(tx: Db, deliveries: NewDelivery[], now: Date): Promise<void> {
  const queued = deliveries.filter((d) => d.status === "queued");
  if (queued.length === 0) return;
  const { rows } = await sql<{ address: string; reason: string }>`
    SELECT address, reason FROM ferry.suppressions
     WHERE address = ANY(${[...new Set(queued.map((d) => d.recipient.toLowerCase()))]}::text[])
       AND (expires_at IS NULL OR expires_at > ${now})`.execute(tx);
  if (rows.length === 0) return;
  const reasons = new Map(rows.map((r) => [r.address, r.reason]));
  for (const d of queued) {
    const reason = reasons.get(d.recipient.toLowerCase());
    if (reason !== undefined) {
      d.status = "suppressed";
      d.last_reply = `suppressed: ${reason}`;
    }
  }
}
