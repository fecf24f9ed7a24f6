/**
 * Destinations' limits in `ferry.destination_state` (migration 0010): read the rows of the
 * destinations whose actors start, save the rows of the destinations this instance serves (only
 * while it holds their leases), purge rows nobody wrote for a long time.
 * relay/adapters/destination_state_store.ts puts these on the actors' `DestinationStateStore`
 * port; the record itself (`state`) is the actors' JSON and is passed through as it is.
 *
 * @module
 */
import { sql } from "kysely";
import type { Db } from "./client.ts";
import { anyText } from "./sql_fragments.ts";

export interface StoredDestinationState {
  readonly key: string;
  /** As the jsonb column holds it: the actors check it before they use it. */
  readonly state: unknown;
  readonly owner: string;
  readonly updatedAt: Date;
}

/** The rows of `keys` that exist. */
export async function loadDestinationStates(
  db: Db,
  keys: readonly string[],
): Promise<StoredDestinationState[]> {
  if (keys.length === 0) return [];
  const rows = await db.selectFrom("ferry.destination_state").selectAll()
    .where("key", "=", anyText([...new Set(keys)])).execute();
  return rows.map((r) => ({
    key: r.key,
    state: r.state as unknown,
    owner: r.owner,
    updatedAt: new Date(r.updated_at),
  }));
}

export interface DestinationStateWrite {
  readonly key: string;
  /** The lease (`ferry.leases.name`) that entitles the writer: the write needs it held. */
  readonly lease: string;
  readonly state: unknown;
}

/**
 * Upserts the states whose lease `owner` still holds at `now` (held and not expired, the check
 * claims make), in the same statement, so a write from an instance that lost the lease (expired
 * and taken over, or released) never overwrites what the new holder wrote. The leases are
 * locked FOR SHARE while the statement runs: an acquire racing with it either waits for it or
 * is seen (PostgreSQL re-reads a row locked by a concurrent update, and its new owner fails the
 * check). They are locked in name order, like every statement that locks several lease rows
 * (db/leases.ts), so a save and an acquire never deadlock. Returns the keys written and the keys
 * refused. A key given twice keeps its last state.
 */
export async function saveDestinationStates(
  db: Db,
  writes: readonly DestinationStateWrite[],
  o: { readonly owner: string; readonly now: Date },
): Promise<{ saved: string[]; refused: string[] }> {
  const byKey = new Map(writes.map((w) => [w.key, w]));
  if (byKey.size === 0) return { saved: [], refused: [] };
  const rows = [...byKey.values()];
  // raw SQL: a CTE locking the held leases in name order (FOR SHARE), then an unnest batch upsert.
  const { rows: written } = await sql<{ key: string }>`
    WITH held AS (
      SELECT l.name FROM ferry.leases l
       WHERE l.name = ANY(${[...new Set(rows.map((w) => w.lease))]}::text[])
         AND l.owner = ${o.owner} AND l.expires_at > ${o.now}
       ORDER BY l.name COLLATE "C"
         FOR SHARE
    )
    INSERT INTO ferry.destination_state AS s (key, state, owner, updated_at)
    SELECT w.key, w.state::jsonb, ${o.owner}, ${o.now}
      FROM unnest(${rows.map((w) => w.key)}::text[],
                  ${rows.map((w) => JSON.stringify(w.state))}::text[],
                  ${rows.map((w) => w.lease)}::text[]) AS w(key, state, lease)
      JOIN held ON held.name = w.lease
     ORDER BY w.key COLLATE "C"
    ON CONFLICT (key) DO UPDATE
      SET state = excluded.state, owner = excluded.owner, updated_at = excluded.updated_at
    RETURNING s.key`.execute(db);
  const saved = new Set(written.map((r) => r.key));
  return {
    saved: rows.filter((w) => saved.has(w.key)).map((w) => w.key),
    refused: rows.filter((w) => !saved.has(w.key)).map((w) => w.key),
  };
}

/**
 * Deletes the states last written before `before`: destinations nobody has sent to since, whose
 * budgets have long been full again. Returns how many went.
 */
export async function purgeDestinationStates(db: Db, before: Date): Promise<number> {
  const r = await db.deleteFrom("ferry.destination_state").where("updated_at", "<", before)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
