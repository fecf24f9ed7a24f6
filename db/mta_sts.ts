/**
 * MTA-STS policies in `ferry.mta_sts_policies` (migration 0005): read one domain's, upsert a
 * fresh fetch, note a failed refresh, forget one. relay/adapters/mta_sts_store.ts turns these
 * into the MTA-STS library's store port.
 *
 * @module
 */
import type { Db } from "./client.ts";

export type MtaStsMode = "enforce" | "testing" | "none";

/** A policy as fetched. */
export interface MtaStsPolicyRow {
  /** Lower-case, without trailing dot. */
  readonly domain: string;
  readonly policyId: string;
  readonly mode: MtaStsMode;
  readonly mx: readonly string[];
  /** Seconds. */
  readonly maxAge: number;
  readonly fetchedAt: Date;
  readonly expiresAt: Date;
}

/** A stored policy, with the last refresh that failed since its fetch. */
export interface StoredMtaStsPolicy extends MtaStsPolicyRow {
  readonly lastError: string | null;
  readonly lastErrorAt: Date | null;
}

// Errors quote what a server sent (a Location header, say): kept short.
const MAX_ERROR = 1000;

/** The policy stored for `domain`, expired or not. */
export async function getMtaStsPolicy(
  db: Db,
  domain: string,
): Promise<StoredMtaStsPolicy | undefined> {
  const r = await db.selectFrom("ferry.mta_sts_policies").selectAll()
    .where("domain", "=", domain.toLowerCase()).executeTakeFirst();
  if (!r) return undefined;
  return {
    domain: r.domain,
    policyId: r.policy_id,
    mode: r.mode,
    mx: r.mx,
    maxAge: r.max_age,
    fetchedAt: new Date(r.fetched_at),
    expiresAt: new Date(r.expires_at),
    lastError: r.last_error,
    lastErrorAt: r.last_error_at === null ? null : new Date(r.last_error_at),
  };
}

/**
 * Stores a freshly fetched policy, replacing the domain's row and clearing its error, unless
 * the row holds a policy fetched later (another instance was quicker): then nothing changes
 * and the answer is false.
 */
export async function upsertMtaStsPolicy(db: Db, p: MtaStsPolicyRow): Promise<boolean> {
  const values = {
    domain: p.domain.toLowerCase(),
    policy_id: p.policyId,
    mode: p.mode,
    mx: [...p.mx],
    max_age: p.maxAge,
    fetched_at: p.fetchedAt,
    expires_at: p.expiresAt,
    last_error: null,
    last_error_at: null,
  };
  const r = await db.insertInto("ferry.mta_sts_policies").values(values)
    .onConflict((oc) =>
      oc.column("domain")
        .doUpdateSet({
          policy_id: values.policy_id,
          mode: values.mode,
          mx: values.mx,
          max_age: values.max_age,
          fetched_at: values.fetched_at,
          expires_at: values.expires_at,
          last_error: null,
          last_error_at: null,
        })
        .where("ferry.mta_sts_policies.fetched_at", "<=", values.fetched_at)
    )
    .returning("domain").executeTakeFirst();
  return r !== undefined;
}

/** Notes a failed refresh on the domain's row; false when the domain has none. */
export async function noteMtaStsError(
  db: Db,
  domain: string,
  message: string,
  at: Date,
): Promise<boolean> {
  const r = await db.updateTable("ferry.mta_sts_policies")
    .set({ last_error: message.slice(0, MAX_ERROR), last_error_at: at })
    .where("domain", "=", domain.toLowerCase()).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Forgets a domain's policy (an operator's reset); false when there was none. */
export async function deleteMtaStsPolicy(db: Db, domain: string): Promise<boolean> {
  const r = await db.deleteFrom("ferry.mta_sts_policies")
    .where("domain", "=", domain.toLowerCase()).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
