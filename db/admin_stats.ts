/**
 * Numbers for the live view, the metrics scrape and the alerts: the event tail, throughput
 * buckets, queue gauges. Every query reads either the waiting rows (small partial indexes) or
 * a time range of `ferry.events` (its BRIN index on `at`), never the whole history.
 *
 * @module
 */
import { sql } from "kysely";
import type { Db } from "./client.ts";
import type { EventView } from "./admin_queries.ts";

/** Events after `afterId`, oldest first (the live stream's tail). */
export async function eventsAfter(db: Db, afterId: number, limit: number): Promise<EventView[]> {
  const { rows } = await sql<EventView>`
    SELECT e.id, e.delivery_id, e.outbox_id, e.at, e.kind, d.recipient, d.domain, e.mx_host,
           e.code, e.enhanced, e.reply, e.tls, e.duration_ms
      FROM ferry.events e LEFT JOIN ferry.deliveries d ON d.id = e.delivery_id
     WHERE e.id > ${afterId}
     ORDER BY e.id LIMIT ${limit}`.execute(db);
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/** The id of the newest event (0 when there is none). */
export async function latestEventId(db: Db): Promise<number> {
  const { rows: [r] } = await sql<{ id: number | null }>`
    SELECT max(id) AS id FROM ferry.events`.execute(db);
  return Number(r?.id ?? 0);
}

export interface ThroughputBucket {
  /** Start of the bucket. */
  readonly at: Date;
  readonly counts: Record<string, number>;
}

/** Events per kind in buckets of `bucketSeconds` over the last `minutes` (oldest first). */
export async function throughput(
  db: Db,
  o: { readonly now: Date; readonly minutes: number; readonly bucketSeconds: number },
): Promise<ThroughputBucket[]> {
  const b = o.bucketSeconds;
  const end = Math.floor(o.now.getTime() / 1000 / b) * b + b;
  const start = end - Math.ceil((o.minutes * 60) / b) * b;
  const { rows } = await sql<{ t: number; kind: string; n: number }>`
    SELECT (floor(extract(epoch FROM at) / ${b}) * ${b})::bigint AS t, kind, count(*)::int AS n
      FROM ferry.events
     WHERE at >= ${new Date(start * 1000)} AND at < ${new Date(end * 1000)}
     GROUP BY 1, 2`.execute(db);
  const buckets: ThroughputBucket[] = [];
  for (let t = start; t < end; t += b) buckets.push({ at: new Date(t * 1000), counts: {} });
  for (const r of rows) {
    const bucket = buckets[Math.floor((Number(r.t) - start) / b)];
    if (bucket) bucket.counts[r.kind] = Number(r.n);
  }
  return buckets;
}

export interface QueueGauges {
  /** Waiting and in-flight rows by status. */
  readonly depth: { readonly queued: number; readonly deferred: number; readonly sending: number };
  /** Earliest due time among ready rows that are due (null when nothing is due). */
  readonly oldestDueAt: Date | null;
}

/**
 * What the metrics scrape needs, in one statement over the waiting rows only (the partial
 * indexes), never over the finished history.
 */
export async function queueGauges(db: Db, now: Date): Promise<QueueGauges> {
  const { rows } = await sql<{ status: string; n: number; oldest: Date | null }>`
    SELECT status, count(*)::int AS n,
           min(next_attempt_at) FILTER (WHERE status <> 'sending' AND next_attempt_at <= ${now})
             AS oldest
      FROM ferry.deliveries
     WHERE status IN ('queued', 'deferred', 'sending')
     GROUP BY status`.execute(db);
  const depth = { queued: 0, deferred: 0, sending: 0 };
  let oldest: Date | null = null;
  for (const r of rows) {
    depth[r.status as keyof typeof depth] = Number(r.n);
    if (r.oldest && (!oldest || new Date(r.oldest) < oldest)) oldest = new Date(r.oldest);
  }
  return { depth, oldestDueAt: oldest };
}

/**
 * When the oldest delivery still waiting was queued: rows never tried whose first attempt is
 * scheduled in the future (`send_at`) do not count, they are not late.
 */
export async function oldestWaitingSince(db: Db, now: Date): Promise<Date | null> {
  const { rows: [r] } = await sql<{ at: Date | null }>`
    SELECT min(created_at) AS at FROM ferry.deliveries
     WHERE status IN ('queued', 'deferred', 'sending')
       AND NOT (attempts = 0 AND next_attempt_at > ${now})`.execute(db);
  return r?.at ? new Date(r.at) : null;
}

/** Events per kind recorded in [since, until). */
export async function eventCounts(
  db: Db,
  since: Date,
  until: Date,
): Promise<Record<string, number>> {
  const { rows } = await sql<{ kind: string; n: number }>`
    SELECT kind, count(*)::int AS n FROM ferry.events
     WHERE at >= ${since} AND at < ${until} GROUP BY kind`.execute(db);
  return Object.fromEntries(rows.map((r) => [r.kind, Number(r.n)]));
}
