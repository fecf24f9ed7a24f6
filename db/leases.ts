/**
 * Named leases shared by every instance on the database (`ferry.leases`). A destination is
 * sent to by the instance holding `domain:<name>`: that is how several instances behave as one
 * relay, with per-destination limits holding across them. A lease carries a fencing token from
 * `ferry.fence`; claims check the lease in the same statement (db/queue.ts `claimDomains` with
 * `holder`), so an instance that lost a lease cannot claim for it any more.
 *
 * Every statement that writes several lease rows locks them in one order, by name in the "C"
 * collation. An acquire locks each row it conflicts with, taken or not; a renewal or release that
 * locked the same rows in table order could hold one the acquire wants while waiting for one the
 * acquire holds, and PostgreSQL would abort one of them as a deadlock after stalling both for
 * `deadlock_timeout`. With a single order there is no such cycle.
 *
 * @module
 */
import { sql } from "kysely";
import type { Db } from "./client.ts";

export const domainLease = (domain: string) => `domain:${domain}`;

export interface LeaseOptions {
  readonly owner: string;
  readonly now: Date;
  readonly ttlMs: number;
}

/** Takes the named leases that are free, expired, or already ours. Returns the names granted. */
export async function acquireLeases(
  db: Db,
  names: readonly string[],
  o: LeaseOptions,
): Promise<string[]> {
  if (names.length === 0) return [];
  // raw SQL: an unnest batch drawing one fencing token per name from the sequence, in name order.
  const { rows } = await sql<{ name: string }>`
    INSERT INTO ferry.leases AS l (name, owner, token, expires_at)
    SELECT n, ${o.owner}, nextval('ferry.fence'), ${new Date(o.now.getTime() + o.ttlMs)}
      FROM unnest(${[...names]}::text[]) AS n
     ORDER BY n COLLATE "C"
    ON CONFLICT (name) DO UPDATE
      SET owner = excluded.owner, token = excluded.token, expires_at = excluded.expires_at
      WHERE l.expires_at < ${o.now} OR l.owner = excluded.owner
    RETURNING name`.execute(db);
  return rows.map((r) => r.name);
}

/**
 * Extends leases this owner still holds. A lease that already expired is not revived, even if
 * nobody took it: its holder must treat it as lost (and may acquire it again).
 */
export async function renewLeases(
  db: Db,
  names: readonly string[],
  o: LeaseOptions,
): Promise<string[]> {
  if (names.length === 0) return [];
  // raw SQL: a locking CTE ordered by name COLLATE "C" before the UPDATE (the builder cannot)
  const { rows } = await sql<{ name: string }>`
    WITH mine AS (
      SELECT name FROM ferry.leases
       WHERE owner = ${o.owner} AND name = ANY(${[...names]}::text[]) AND expires_at >= ${o.now}
       ORDER BY name COLLATE "C"
         FOR UPDATE
    )
    UPDATE ferry.leases l SET expires_at = ${new Date(o.now.getTime() + o.ttlMs)}
      FROM mine WHERE l.name = mine.name
    RETURNING l.name`.execute(db);
  return rows.map((r) => r.name);
}

/** Gives leases up (graceful stop, idle actor). */
export async function releaseLeases(
  db: Db,
  names: readonly string[],
  owner: string,
): Promise<void> {
  if (names.length === 0) return;
  await deleteLeases(db, owner, names);
}

/** Deletes `owner`'s leases (those named, or all), locking them in name order first. */
export async function deleteLeases(
  db: Db,
  owner: string,
  names?: readonly string[],
): Promise<void> {
  // raw SQL: a locking CTE ordered by name COLLATE "C" before the DELETE (the builder cannot)
  await sql`
    WITH mine AS (
      SELECT name FROM ferry.leases
       WHERE owner = ${owner}
         ${names === undefined ? sql`` : sql`AND name = ANY(${[...names]}::text[])`}
       ORDER BY name COLLATE "C"
         FOR UPDATE
    )
    DELETE FROM ferry.leases l USING mine WHERE l.name = mine.name`.execute(db);
}
