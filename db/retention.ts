/**
 * Retention: finished deliveries, their events and fully finished outbox rows older than a
 * cutoff are deleted in small batches, each its own short statement, so no long lock is ever
 * held and autovacuum keeps up between batches.
 *
 * @module
 */
import type { Db } from "./client.ts";
import { FINAL_STATUSES } from "./schema.ts";
import { literals } from "./sql_fragments.ts";

export interface PurgeOptions {
  /** Rows finished (or events written) before this instant go. */
  readonly before: Date;
  /** Rows per statement. */
  readonly batchSize?: number;
  /** Most statements per call, so one call is bounded in time. */
  readonly maxBatches?: number;
}

export interface PurgeResult {
  readonly deliveries: number;
  readonly events: number;
  readonly outbox: number;
  /** False when `maxBatches` stopped the call early: call again. */
  readonly complete: boolean;
}

/** Purges finished history older than `before`. */
export async function purgeFinished(db: Db, o: PurgeOptions): Promise<PurgeResult> {
  const batch = o.batchSize ?? 1000;
  if (!(batch > 0)) {
    throw new RangeError(`Cannot purge as 'batchSize' must be > 0: current value is ${batch}`);
  }
  let budget = o.maxBatches ?? 1000;
  const loop = async (statement: () => Promise<number>): Promise<number> => {
    let total = 0;
    while (budget > 0) {
      budget--;
      const n = await statement();
      total += n;
      if (n < batch) break;
    }
    return total;
  };
  const deliveries = await loop(async () => {
    const r = await db.deleteFrom("ferry.deliveries")
      .where("id", "in", (eb) =>
        eb.selectFrom("ferry.deliveries").select("id")
          .where("status", "in", literals(FINAL_STATUSES))
          .where("updated_at", "<", o.before)
          .limit(batch))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  });
  const events = await loop(async () => {
    const r = await db.deleteFrom("ferry.events")
      .where(
        "id",
        "in",
        (eb) => eb.selectFrom("ferry.events").select("id").where("at", "<", o.before).limit(batch),
      )
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  });
  const outbox = await loop(async () => {
    const r = await db.deleteFrom("ferry.outbox")
      .where("id", "in", (eb) =>
        eb.selectFrom("ferry.outbox as o").select("o.id")
          .where("o.ingested_at", "is not", null)
          .where("o.created_at", "<", o.before)
          .where((eb) =>
            eb.not(eb.exists(
              eb.selectFrom("ferry.deliveries as d").select(eb.lit(1).as("one"))
                .whereRef("d.outbox_id", "=", "o.id"),
            ))
          )
          .limit(batch))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  });
  return { deliveries, events, outbox, complete: budget > 0 };
}
