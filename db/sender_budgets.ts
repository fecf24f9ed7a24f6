/**
 * Per-sender rate budgets in `ferry.sender_budgets` (migration 0012): instances reserve ranges of
 * each rate's timeline by advancing its theoretical arrival time (TAT) in one statement, so the
 * ranges handed out never overlap, whichever instance asks (actors/sender_budgets.ts explains
 * how the actors spend them).
 *
 * @module
 */
import { sql } from "kysely";
import type { Db } from "./client.ts";

export interface SenderRate {
  readonly count: number;
  readonly perMs: number;
}

/**
 * Reserves `cells` emission intervals (`perMs / count` each) of every rate of `key` at `now`
 * (epoch ms): each rate's range starts at the later of its TAT and `now`, and its TAT moves to
 * the range's end. One upsert for all the rates, rows locked in the order given, so concurrent
 * reservations of the same sender serialise without deadlocking. Returns `[start, end)` per rate,
 * in order.
 */
export async function reserveSenderBudget(
  db: Db,
  key: string,
  rates: readonly SenderRate[],
  cells: number,
  now: number,
): Promise<{ start: number; end: number }[]> {
  if (rates.length === 0) return [];
  if (!Number.isInteger(cells) || cells < 1) {
    throw new RangeError(
      `Cannot reserve a sender budget as 'cells' must be an integer >= 1: current value is ${cells}`,
    );
  }
  const spans = rates.map((r) => cells * r.perMs / r.count);
  // raw SQL: an unnest batch upsert whose update reads the row's own TAT (GREATEST(tat, now)).
  const { rows } = await sql<{ count: number; per_ms: number; tat: number }>`
    INSERT INTO ferry.sender_budgets AS b (key, count, per_ms, tat, updated_at)
    SELECT ${key}, r.count, r.per_ms, ${now}::float8 + r.span, ${new Date(now)}
      FROM unnest(${rates.map((r) => r.count)}::float8[], ${rates.map((r) => r.perMs)}::float8[],
                  ${spans}::float8[]) WITH ORDINALITY AS r(count, per_ms, span, i)
     ORDER BY r.i
    ON CONFLICT (key, count, per_ms) DO UPDATE
      SET tat = GREATEST(b.tat, ${now}::float8) + (excluded.tat - ${now}::float8),
          updated_at = excluded.updated_at
    RETURNING b.count, b.per_ms, b.tat`.execute(db);
  return rates.map((r, i) => {
    const row = rows.find((x) => x.count === r.count && x.per_ms === r.perMs);
    if (!row) {
      throw new Error(`sender budget ${key}: no row returned for rate ${r.count}/${r.perMs}ms`);
    }
    return { start: row.tat - spans[i]!, end: row.tat };
  });
}

/** Every stored TAT of `key` (tests, admin). */
export async function loadSenderBudget(
  db: Db,
  key: string,
): Promise<{ count: number; perMs: number; tat: number }[]> {
  const rows = await db.selectFrom("ferry.sender_budgets").select(["count", "per_ms", "tat"])
    .where("key", "=", key).orderBy("per_ms").execute();
  return rows.map((r) => ({ count: r.count, perMs: r.per_ms, tat: r.tat }));
}

/** Deletes rates nobody reserved since `before` (rates since changed, senders since removed). */
export async function purgeSenderBudgets(db: Db, before: Date): Promise<number> {
  const r = await db.deleteFrom("ferry.sender_budgets").where("updated_at", "<", before)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
