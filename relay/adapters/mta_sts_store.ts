/**
 * The MTA-STS library's store port over PostgreSQL (db/mta_sts.ts): policies survive restarts
 * and every instance sees the same ones. Converts between the library's millisecond times and
 * the database's timestamps.
 *
 * @module
 */
import type { Db } from "../../db/client.ts";
import {
  getMtaStsPolicy,
  noteMtaStsError,
  type StoredMtaStsPolicy,
  upsertMtaStsPolicy,
} from "../../db/mta_sts.ts";
import type { MtaStsStore, StoredPolicy } from "../mta_sts/mod.ts";

export function pgMtaStsStore(db: Db): MtaStsStore {
  return {
    get: async (domain) => {
      const row = await getMtaStsPolicy(db, domain);
      return row && toStored(row);
    },
    put: (p) =>
      upsertMtaStsPolicy(db, {
        domain: p.domain,
        policyId: p.id,
        mode: p.mode,
        mx: p.mx,
        maxAge: p.maxAge,
        fetchedAt: new Date(p.fetchedAt),
        expiresAt: new Date(p.expiresAt),
      }),
    noteError: async (domain, message, at) => {
      await noteMtaStsError(db, domain, message, new Date(at));
    },
  };
}

function toStored(row: StoredMtaStsPolicy): StoredPolicy {
  return {
    domain: row.domain,
    id: row.policyId,
    mode: row.mode,
    mx: row.mx,
    maxAge: row.maxAge,
    fetchedAt: row.fetchedAt.getTime(),
    expiresAt: row.expiresAt.getTime(),
    lastError: row.lastError === null
      ? null
      : { message: row.lastError, at: row.lastErrorAt?.getTime() ?? row.fetchedAt.getTime() },
  };
}
