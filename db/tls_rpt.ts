/**
 * SMTP TLS Reporting (RFC 8460) in `ferry.tls_rpt_results` and `ferry.tls_rpt_reports`
 * (migration 0007): counters incremented by every instance, the days and domains still to
 * report, and the report rows that make each report go out once. relay/adapters/tls_rpt_store.ts
 * turns these into the TLS-RPT library's store ports.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Selectable } from "kysely";
import type { Db } from "./client.ts";
import { insertMessage } from "./admin_queries.ts";
import type { TlsRptReportsTable, TlsRptResultsTable } from "./schema.ts";

/** One counter: `sessions` sessions of `day` with this policy and outcome. */
export interface TlsRptCount {
  /** `YYYY-MM-DD`, UTC. */
  readonly day: string;
  readonly policyDomain: string;
  readonly policyType: "sts" | "tlsa" | "no-policy-found";
  readonly policyHash: string;
  readonly policyStrings: readonly string[];
  readonly mxHost: string;
  readonly resultType: string;
  readonly sendingMtaIp: string;
  readonly receivingMxHostname: string;
  readonly receivingMxHelo: string;
  readonly receivingIp: string;
  readonly additionalInfo: string;
  readonly failureReasonCode: string;
  readonly sessions: number;
}

/** A report row claimed for sending by HTTPS. */
export interface TlsRptPostRow {
  readonly id: number;
  readonly day: string;
  readonly policyDomain: string;
  readonly rua: string;
  readonly reportId: string;
  readonly report: Uint8Array;
  readonly attempts: number;
  readonly createdAt: Date;
}

/** One report to one rua. */
export interface TlsRptReportKey {
  readonly day: string;
  readonly policyDomain: string;
  readonly rua: string;
  readonly reportId: string;
  /** The gzip-compressed JSON. */
  readonly report: Uint8Array;
}

/** The name of the lease (`ferry.leases`) under which one instance writes a day's reports. */
export const tlsRptDayLease = (day: string) => `tls-rpt:${day}`;

// Errors quote what a server answered: kept short.
const MAX_ERROR = 1000;

/**
 * Adds each counter's sessions to its row, creating the rows that are new, in one statement.
 * The rows are written in one order (their key's), whoever writes them, so two instances
 * adding to the same counters at once wait for each other instead of deadlocking.
 */
export async function addTlsRptResults(db: Db, counts: readonly TlsRptCount[]): Promise<void> {
  if (counts.length === 0) return;
  const merged = new Map<string, TlsRptCount>();
  for (const c of counts) {
    const key = keyOf(c);
    const held = merged.get(key);
    // One statement may not touch a row twice (ON CONFLICT): equal keys are summed first.
    merged.set(key, held ? { ...held, sessions: held.sessions + c.sessions } : c);
  }
  const rows = [...merged.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, c]) => ({
      day: c.day,
      policy_domain: c.policyDomain,
      policy_type: c.policyType,
      policy_hash: c.policyHash,
      policy_strings: [...c.policyStrings],
      mx_host: c.mxHost,
      result_type: c.resultType,
      sending_mta_ip: c.sendingMtaIp,
      receiving_mx_hostname: c.receivingMxHostname,
      receiving_mx_helo: c.receivingMxHelo,
      receiving_ip: c.receivingIp,
      additional_info: c.additionalInfo,
      failure_reason_code: c.failureReasonCode,
      sessions: c.sessions,
    }));
  await db.insertInto("ferry.tls_rpt_results").values(rows)
    .onConflict((oc) =>
      oc.columns([
        "day",
        "policy_domain",
        "policy_type",
        "policy_hash",
        "mx_host",
        "result_type",
        "sending_mta_ip",
        "receiving_mx_hostname",
        "receiving_mx_helo",
        "receiving_ip",
        "additional_info",
        "failure_reason_code",
      ]).doUpdateSet((eb) => ({
        sessions: eb("ferry.tls_rpt_results.sessions", "+", eb.ref("excluded.sessions")),
      }))
    ).execute();
}

/** Days in [from, before) with counters of a policy domain that has no report row, oldest first. */
export async function tlsRptPendingDays(db: Db, from: string, before: string): Promise<string[]> {
  const rows = await db.selectFrom("ferry.tls_rpt_results as c").select("c.day").distinct()
    .where("c.day", ">=", from).where("c.day", "<", before)
    .where(({ not, exists, selectFrom }) =>
      not(exists(
        selectFrom("ferry.tls_rpt_reports as r").select("r.id")
          .whereRef("r.day", "=", "c.day").whereRef("r.policy_domain", "=", "c.policy_domain"),
      ))
    )
    .orderBy("c.day").execute();
  return rows.map((r) => r.day);
}

/** The policy domains with counters on `day` and no report row, in name order. */
export async function tlsRptDomainsToReport(db: Db, day: string): Promise<string[]> {
  const rows = await db.selectFrom("ferry.tls_rpt_results as c").select("c.policy_domain")
    .distinct()
    .where("c.day", "=", day)
    .where(({ not, exists, selectFrom }) =>
      not(exists(
        selectFrom("ferry.tls_rpt_reports as r").select("r.id")
          .whereRef("r.day", "=", "c.day").whereRef("r.policy_domain", "=", "c.policy_domain"),
      ))
    )
    .orderBy("c.policy_domain").execute();
  return rows.map((r) => r.policy_domain);
}

/** Every counter of `day` for `policyDomain`. */
export async function tlsRptCountsFor(
  db: Db,
  day: string,
  policyDomain: string,
): Promise<TlsRptCount[]> {
  const rows = await db.selectFrom("ferry.tls_rpt_results").selectAll()
    .where("day", "=", day).where("policy_domain", "=", policyDomain).execute();
  return rows.map(toCount);
}

/**
 * Records that `policyDomain` has nothing to send its report of `day` to (no usable
 * `_smtp._tls` record), so it is not looked up again. Nothing changes when a row exists.
 */
export async function noteTlsRptNoRecord(
  db: Db,
  o: { readonly day: string; readonly policyDomain: string; readonly reason: string; now: Date },
): Promise<void> {
  await db.insertInto("ferry.tls_rpt_reports").values({
    day: o.day,
    policy_domain: o.policyDomain,
    rua: "",
    report_id: "",
    status: "no-record",
    last_error: o.reason.slice(0, MAX_ERROR),
    created_at: o.now,
    updated_at: o.now,
  }).onConflict((oc) => oc.columns(["day", "policy_domain", "rua"]).doNothing()).execute();
}

/**
 * Inserts the report row of an HTTPS rua, claimed by `owner` until `now + leaseMs`. Undefined,
 * and nothing changes, when the row exists: another instance has (or had) the report.
 */
export async function claimTlsRptPost(
  db: Db,
  key: TlsRptReportKey,
  o: { readonly owner: string; readonly now: Date; readonly leaseMs: number },
): Promise<TlsRptPostRow | undefined> {
  const row = await db.insertInto("ferry.tls_rpt_reports").values({
    day: key.day,
    policy_domain: key.policyDomain,
    rua: key.rua,
    report_id: key.reportId,
    status: "pending",
    // node-postgres sends a Buffer as bytea; a plain Uint8Array it would not.
    report: Buffer.from(key.report),
    owner: o.owner,
    lease_expires_at: new Date(o.now.getTime() + o.leaseMs),
    next_attempt_at: o.now,
    created_at: o.now,
    updated_at: o.now,
  }).onConflict((oc) => oc.columns(["day", "policy_domain", "rua"]).doNothing())
    .returningAll().executeTakeFirst();
  return row && toPost(row);
}

/**
 * Claims up to `limit` HTTPS reports whose retry is due, or whose claimer let its claim run
 * out (a crash), soonest first. Rows another instance is claiming at this moment are skipped.
 */
export async function claimDueTlsRptPosts(
  db: Db,
  o: { readonly owner: string; readonly now: Date; readonly leaseMs: number; limit: number },
): Promise<TlsRptPostRow[]> {
  const rows = await db.updateTable("ferry.tls_rpt_reports")
    .set({
      owner: o.owner,
      lease_expires_at: new Date(o.now.getTime() + o.leaseMs),
      updated_at: o.now,
    })
    .where("id", "in", (eb) =>
      eb.selectFrom("ferry.tls_rpt_reports as r").select("r.id")
        .where("r.status", "=", "pending")
        .where("r.next_attempt_at", "<=", o.now)
        .where((w) =>
          w.or([w("r.lease_expires_at", "is", null), w("r.lease_expires_at", "<", o.now)])
        )
        .orderBy("r.next_attempt_at").limit(o.limit)
        .forUpdate().skipLocked())
    .returningAll().execute();
  return rows.map(toPost).sort((a, b) => a.id - b.id);
}

/** The end of an HTTPS attempt. */
export type TlsRptPostOutcome =
  | { readonly kind: "sent" }
  | { readonly kind: "retry"; readonly at: Date; readonly error: string }
  | { readonly kind: "failed"; readonly error: string };

/** Records an attempt's end on a report `owner` still holds; false when it holds it no more. */
export async function finishTlsRptPost(
  db: Db,
  id: number,
  owner: string,
  outcome: TlsRptPostOutcome,
  now: Date,
): Promise<boolean> {
  const common = { owner: null, lease_expires_at: null, updated_at: now };
  const set = outcome.kind === "sent"
    ? { ...common, status: "sent" as const, sent_at: now, next_attempt_at: null, last_error: null }
    : outcome.kind === "retry"
    ? { ...common, next_attempt_at: outcome.at, last_error: outcome.error.slice(0, MAX_ERROR) }
    : {
      ...common,
      status: "failed" as const,
      next_attempt_at: null,
      last_error: outcome.error.slice(0, MAX_ERROR),
    };
  const r = await db.updateTable("ferry.tls_rpt_reports")
    .set((eb) => ({ ...set, attempts: eb("attempts", "+", 1) }))
    .where("id", "=", id).where("owner", "=", owner).where("status", "=", "pending")
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** The outbox row that carries a report by mail. */
export interface TlsRptMail {
  readonly from: string;
  readonly to: readonly string[];
  /** The whole message (multipart/report): the outbox's `raw_message`. */
  readonly raw: Uint8Array;
}

/**
 * Inserts the report row of a `mailto:` rua (status `sent`: the outbox takes it from here,
 * with its own retries) and the outbox row carrying the report, in one transaction, so a
 * report is either both queued and marked or neither. Undefined, with nothing inserted, when
 * the report row exists (another instance queued it). The outbox row is low priority and
 * expires after 24 hours, as RFC 8460 §5.5 retries for no longer.
 */
export async function enqueueTlsRptMail(
  db: Db,
  key: TlsRptReportKey,
  mail: TlsRptMail,
  now: Date,
): Promise<number | undefined> {
  return await db.transaction().execute(async (tx) => {
    const row = await tx.insertInto("ferry.tls_rpt_reports").values({
      day: key.day,
      policy_domain: key.policyDomain,
      rua: key.rua,
      report_id: key.reportId,
      status: "sent",
      report: Buffer.from(key.report),
      attempts: 1,
      created_at: now,
      updated_at: now,
      sent_at: now,
    }).onConflict((oc) => oc.columns(["day", "policy_domain", "rua"]).doNothing())
      .returning("id").executeTakeFirst();
    if (!row) return undefined;
    const message = await insertMessage(tx, {
      from_address: mail.from,
      to_addresses: [...mail.to],
      raw_message: mail.raw,
      priority: 2,
      send_at: now,
      expires_at: new Date(now.getTime() + 24 * 3_600_000),
      idempotency_key: `tls-rpt:${key.reportId}:${key.rua}`,
      metadata: { ferry: "tls-rpt", report_id: key.reportId, policy_domain: key.policyDomain },
    });
    await tx.updateTable("ferry.tls_rpt_reports").set({ outbox_id: message.id })
      .where("id", "=", row.id).execute();
    return message.id;
  });
}

/** The report rows of `day` (all domains, or one), for operators and tests. */
export async function tlsRptReportsOf(
  db: Db,
  day: string,
  policyDomain?: string,
): Promise<Selectable<TlsRptReportsTable>[]> {
  let q = db.selectFrom("ferry.tls_rpt_reports").selectAll().where("day", "=", day);
  if (policyDomain !== undefined) q = q.where("policy_domain", "=", policyDomain);
  return await q.orderBy("policy_domain").orderBy("rua").execute();
}

/** Deletes counters and report rows of the days before `day`. */
export async function purgeTlsRpt(
  db: Db,
  day: string,
): Promise<{ counts: number; reports: number }> {
  const counts = await db.deleteFrom("ferry.tls_rpt_results").where("day", "<", day)
    .executeTakeFirst();
  const reports = await db.deleteFrom("ferry.tls_rpt_reports").where("day", "<", day)
    .executeTakeFirst();
  return { counts: Number(counts.numDeletedRows), reports: Number(reports.numDeletedRows) };
}

function keyOf(c: TlsRptCount): string {
  return JSON.stringify([
    c.day,
    c.policyDomain,
    c.policyType,
    c.policyHash,
    c.mxHost,
    c.resultType,
    c.sendingMtaIp,
    c.receivingMxHostname,
    c.receivingMxHelo,
    c.receivingIp,
    c.additionalInfo,
    c.failureReasonCode,
  ]);
}

function toCount(r: Selectable<TlsRptResultsTable>): TlsRptCount {
  return {
    day: r.day,
    policyDomain: r.policy_domain,
    policyType: r.policy_type,
    policyHash: r.policy_hash,
    policyStrings: r.policy_strings,
    mxHost: r.mx_host,
    resultType: r.result_type,
    sendingMtaIp: r.sending_mta_ip,
    receivingMxHostname: r.receiving_mx_hostname,
    receivingMxHelo: r.receiving_mx_helo,
    receivingIp: r.receiving_ip,
    additionalInfo: r.additional_info,
    failureReasonCode: r.failure_reason_code,
    sessions: Number(r.sessions),
  };
}

function toPost(r: Selectable<TlsRptReportsTable>): TlsRptPostRow {
  return {
    id: Number(r.id),
    day: r.day,
    policyDomain: r.policy_domain,
    rua: r.rua,
    reportId: r.report_id,
    report: new Uint8Array(r.report ?? new Uint8Array()),
    attempts: r.attempts,
    createdAt: new Date(r.created_at),
  };
}
