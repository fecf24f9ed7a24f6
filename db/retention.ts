/**
 * Retention: finished deliveries, their events and fully finished outbox rows older than a
 * cutoff are deleted in small batches, each its own short statement, so no long lock is ever
 * held and autovacuum keeps up between batches.
 *
 * @module
 */
import { sql } from "kysely";
import type { Db } from "./client.ts";

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
    const r = await sql`
      DELETE FROM ferry.deliveries WHERE id IN (
        SELECT id FROM ferry.deliveries
         WHERE status IN ('delivered', 'bounced', 'expired', 'cancelled', 'suppressed', 'rejected')
           AND updated_at < ${o.before}
         LIMIT ${batch})`.execute(db);
    return Number(r.numAffectedRows ?? 0);
  });
  const events = await loop(async () => {
    const r = await sql`
      DELETE FROM ferry.events WHERE id IN (
        SELECT id FROM ferry.events WHERE at < ${o.before} LIMIT ${batch})`.execute(db);
    return Number(r.numAffectedRows ?? 0);
  });
  const outbox = await loop(async () => {
    const r = await sql`
      DELETE FROM ferry.outbox WHERE id IN (
        SELECT o.id FROM ferry.outbox o
         WHERE o.ingested_at IS NOT NULL AND o.created_at < ${o.before}
           AND NOT EXISTS (SELECT 1 FROM ferry.deliveries d WHERE d.outbox_id = o.id)
         LIMIT ${batch})`.execute(db);
    return Number(r.numAffectedRows ?? 0);
  });
  return { deliveries, events, outbox, complete: budget > 0 };
}
