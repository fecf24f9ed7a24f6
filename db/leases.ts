/**
 * Named leases shared by every instance on the database (`ferry.leases`). A destination is
 * sent to by the instance holding `domain:<name>`: that is how several instances behave as one
 * relay, with per-destination limits holding across them. A lease carries a fencing token from
 * `ferry.fence`; claims check the lease in the same statement (db/queue.ts `claimDomains` with
 * `holder`), so an instance that lost a lease cannot claim for it any more.
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
      FROM unnest(${[...names].sort()}::text[]) AS n
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
  const rows = await db.updateTable("ferry.leases")
    .set({ expires_at: new Date(o.now.getTime() + o.ttlMs) })
    .where("owner", "=", o.owner)
    .where((eb) => eb("name", "=", eb.fn.any(eb.val([...names]))))
    .where("expires_at", ">=", o.now)
    .returning("name").execute();
  return rows.map((r) => r.name);
}

/** Gives leases up (graceful stop, idle actor). */
export async function releaseLeases(
  db: Db,
  names: readonly string[],
  owner: string,
): Promise<void> {
  if (names.length === 0) return;
  await db.deleteFrom("ferry.leases")
    .where("owner", "=", owner)
    .where((eb) => eb("name", "=", eb.fn.any(eb.val([...names]))))
    .execute();
}
