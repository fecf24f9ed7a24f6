/**
 * What the report loop needs kept, shared by every instance: the day's counters, which report
 * went where, and a lease per day so one instance at a time writes a day's reports. A port, so
 * the library knows no database; relay/adapters/tls_rpt_store.ts keeps it in PostgreSQL.
 *
 * @module
 */
import type { ResultCount } from "./counts.ts";

/** A report claimed for an HTTPS POST: sent now, or retried (RFC 8460 §5.5). */
export interface ClaimedPost {
  readonly id: number;
  readonly day: string;
  readonly policyDomain: string;
  readonly rua: string;
  readonly reportId: string;
  /** The gzip-compressed report, as first built: a retry sends the same bytes. */
  readonly report: Uint8Array;
  /** Attempts made before this one. */
  readonly attempts: number;
  /** When the report was first claimed, ms: retries stop 24 hours after it (§5.5). */
  readonly createdAt: number;
}

/** A report to send by mail: the outbox row to insert. */
export interface ReportMail {
  readonly from: string;
  readonly to: readonly string[];
  readonly raw: Uint8Array;
}

/** The end of an HTTPS attempt. */
export type PostOutcome =
  | { readonly kind: "sent" }
  | { readonly kind: "retry"; readonly at: number; readonly error: string }
  | { readonly kind: "failed"; readonly error: string };

/** One report to one rua, identified as the table has it. */
export interface ReportKey {
  readonly day: string;
  readonly policyDomain: string;
  readonly rua: string;
  readonly reportId: string;
  readonly report: Uint8Array;
}

export interface TlsReportStore {
  /**
   * Days from `from` (inclusive) to `before` (exclusive) with counters of a policy domain that
   * has no report yet, oldest first.
   */
  pendingDays(from: string, before: string): Promise<string[]>;
  /** Takes the day's lease (free, expired or already ours); false when another holds it. */
  takeDay(day: string, owner: string, now: number, ttlMs: number): Promise<boolean>;
  /** Extends the day's lease; false when it was lost. */
  keepDay(day: string, owner: string, now: number, ttlMs: number): Promise<boolean>;
  releaseDay(day: string, owner: string): Promise<void>;
  /** The policy domains with counters on `day` and no report yet. */
  domainsToReport(day: string): Promise<string[]>;
  /** Every counter of `day` for `policyDomain`. */
  countsFor(day: string, policyDomain: string): Promise<ResultCount[]>;
  /** Records that the domain takes no reports (no usable record), so it is not asked again. */
  noteNoReport(day: string, policyDomain: string, reason: string, now: number): Promise<void>;
  /**
   * Inserts the report row for an HTTPS rua, claimed by `owner` for `leaseMs`; undefined, and
   * nothing changes, when the row exists (another instance took it).
   */
  claimPost(
    key: ReportKey,
    o: { readonly owner: string; readonly now: number; readonly leaseMs: number },
  ): Promise<ClaimedPost | undefined>;
  /** Records an HTTPS attempt's end, if `owner` still holds the claim. */
  finishPost(id: number, owner: string, outcome: PostOutcome, now: number): Promise<void>;
  /** Claims reports whose retry is due (or whose claimer died), at most `limit`. */
  claimDuePosts(
    o: {
      readonly owner: string;
      readonly now: number;
      readonly leaseMs: number;
      readonly limit: number;
    },
  ): Promise<ClaimedPost[]>;
  /**
   * Inserts the report row for a `mailto:` rua, sent, and the outbox row carrying it, in one
   * transaction; the outbox id, or undefined (nothing inserted) when the row exists.
   */
  enqueueMail(key: ReportKey, mail: ReportMail, now: number): Promise<number | undefined>;
  /** Deletes counters and settled reports of days before `day`. */
  purge(day: string): Promise<{ readonly counts: number; readonly reports: number }>;
}
