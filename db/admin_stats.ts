/**
 * Numbers for the live view, the metrics scrape and the alerts: the event tail, throughput
 * buckets, queue gauges. Every query reads either the waiting rows (small partial indexes) or
 * a time range of `ferry.events` (its BRIN index on `at`), never the whole history.
 *
 * @module
 */
import { sql } from "kysely";
import type { Db } from "./client.ts";
import { type EventView, selectEventViews } from "./admin_queries.ts";
import { literals } from "./sql_fragments.ts";

/** The statuses of waiting and in-flight deliveries, which the partial indexes cover. */
const WAITING = literals(["queued", "deferred", "sending"]);

/** Events after `afterId`, oldest first (the live stream's tail). */
export async function eventsAfter(db: Db, afterId: number, limit: number): Promise<EventView[]> {
  const rows: EventView[] = await selectEventViews(db)
    .where("e.id", ">", afterId)
    .orderBy("e.id").limit(limit).execute();
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

/** The id of the newest event (0 when there is none). */
export async function latestEventId(db: Db): Promise<number> {
  const r = await db.selectFrom("ferry.events").select((eb) => eb.fn.max("id").as("id"))
    .executeTakeFirst();
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
  // raw SQL: bucketing by extract(epoch FROM at), a form the builder has no words for
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
  const rows = await db.selectFrom("ferry.deliveries")
    .select((eb) => [
      "status",
      eb.cast<number>(eb.fn.countAll(), "integer").as("n"),
      eb.fn.min("next_attempt_at")
        .filterWhere((eb) =>
          eb.and([eb("status", "<>", "sending"), eb("next_attempt_at", "<=", now)])
        )
        .as("oldest"),
    ])
    .where("status", "in", WAITING)
    .groupBy("status").execute();
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
  const r = await db.selectFrom("ferry.deliveries")
    .select((eb) => eb.fn.min("created_at").as("at"))
    .where("status", "in", WAITING)
    .where((eb) => eb.not(eb.and([eb("attempts", "=", 0), eb("next_attempt_at", ">", now)])))
    .executeTakeFirst();
  return r?.at ? new Date(r.at) : null;
}

/** Events per kind recorded in [since, until). */
export async function eventCounts(
  db: Db,
  since: Date,
  until: Date,
): Promise<Record<string, number>> {
  const rows = await db.selectFrom("ferry.events")
    .select((eb) => ["kind", eb.cast<number>(eb.fn.countAll(), "integer").as("n")])
    .where("at", ">=", since).where("at", "<", until)
    .groupBy("kind").execute();
  return Object.fromEntries(rows.map((r) => [r.kind, Number(r.n)]));
}
