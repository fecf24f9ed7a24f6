/**
 * The TLS-RPT library's store ports over PostgreSQL (db/tls_rpt.ts, and db/leases.ts for the
 * day's lease): counters added by every instance, reports sent once across them. Converts the
 * library's millisecond times to the database's timestamps.
 *
 * @module
 */
import type { Db } from "../../db/client.ts";
import { acquireLeases, releaseLeases, renewLeases } from "../../db/leases.ts";
import {
  addTlsRptResults,
  claimDueTlsRptPosts,
  claimTlsRptPost,
  enqueueTlsRptMail,
  finishTlsRptPost,
  noteTlsRptNoRecord,
  purgeTlsRpt,
  tlsRptCountsFor,
  tlsRptDayLease,
  tlsRptDomainsToReport,
  tlsRptPendingDays,
  type TlsRptPostRow,
} from "../../db/tls_rpt.ts";
import type {
  ClaimedPost,
  PolicyType,
  ResultCount,
  TlsReportStore,
  TlsResultStore,
} from "../tls_rpt/mod.ts";

/** Where the sink's counters go. */
export function pgTlsResultStore(db: Db): TlsResultStore {
  return { add: (counts) => addTlsRptResults(db, counts) };
}

/** What the report loop keeps. */
export function pgTlsReportStore(db: Db): TlsReportStore {
  const lease = (owner: string, now: number, ttlMs: number) => ({
    owner,
    now: new Date(now),
    ttlMs,
  });
  return {
    pendingDays: (from, before) => tlsRptPendingDays(db, from, before),
    takeDay: async (day, owner, now, ttlMs) =>
      (await acquireLeases(db, [tlsRptDayLease(day)], lease(owner, now, ttlMs))).length > 0,
    keepDay: async (day, owner, now, ttlMs) =>
      (await renewLeases(db, [tlsRptDayLease(day)], lease(owner, now, ttlMs))).length > 0,
    releaseDay: (day, owner) => releaseLeases(db, [tlsRptDayLease(day)], owner),
    domainsToReport: (day) => tlsRptDomainsToReport(db, day),
    countsFor: async (day, domain) =>
      (await tlsRptCountsFor(db, day, domain)).map((c): ResultCount => ({
        ...c,
        policyType: c.policyType as PolicyType,
        resultType: c.resultType as ResultCount["resultType"],
      })),
    noteNoReport: (day, policyDomain, reason, now) =>
      noteTlsRptNoRecord(db, { day, policyDomain, reason, now: new Date(now) }),
    claimPost: async (key, o) => {
      const row = await claimTlsRptPost(db, key, {
        owner: o.owner,
        now: new Date(o.now),
        leaseMs: o.leaseMs,
      });
      return row && toClaim(row);
    },
    finishPost: async (id, owner, outcome, now) => {
      await finishTlsRptPost(
        db,
        id,
        owner,
        outcome.kind === "retry" ? { ...outcome, at: new Date(outcome.at) } : outcome,
        new Date(now),
      );
    },
    claimDuePosts: async (o) =>
      (await claimDueTlsRptPosts(db, { ...o, now: new Date(o.now) })).map(toClaim),
    enqueueMail: (key, mail, now) => enqueueTlsRptMail(db, key, mail, new Date(now)),
    purge: (day) => purgeTlsRpt(db, day),
  };
}

function toClaim(row: TlsRptPostRow): ClaimedPost {
  return { ...row, createdAt: row.createdAt.getTime() };
}
