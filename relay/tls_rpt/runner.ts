/**
 * The daily report loop (RFC 8460 §4.1): at `sendHour` UTC, each policy domain with counters for
 * the previous day, whose `_smtp._tls` record names somewhere to send them, gets its report:
 * through Ferry's own outbox for a `mailto:` rua (§5.3), by HTTPS POST for an `https:` one
 * (§5.4), retried with exponential backoff for up to 24 hours (§5.5).
 *
 * Several instances may run the loop: a lease per day lets one of them write the day's reports
 * at a time, and a unique row per (day, domain, rua) taken before anything is sent makes each
 * report go out once even if that lease is lost half way.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import type { Resolver } from "../dns/mod.ts";
import { addDays, dayStart, utcDay } from "./counts.ts";
import type { TlsReportsConfig } from "./config.ts";
import type { PostReport } from "./https_post.ts";
import { composeReportMail } from "./mail.ts";
import {
  buildTlsReport,
  gzipReport,
  reportFileName,
  reportIdFor,
  reportProblem,
} from "./report.ts";
import type { ClaimedPost, ReportKey, TlsReportStore } from "./store.ts";
import { lookupTlsRpt, type ReportUri } from "./txt_record.ts";

/** What the report loop logs. */
export type TlsRptLogLine =
  | {
    readonly event: "tlsrpt.sent";
    readonly day: string;
    readonly domain: string;
    readonly rua: string;
    readonly via: "mail" | "https";
    readonly reportId: string;
    /** The outbox row carrying a mailed report. */
    readonly outboxId?: number;
  }
  | {
    readonly event: "tlsrpt.post_failed";
    readonly day: string;
    readonly domain: string;
    readonly rua: string;
    readonly attempt: number;
    readonly error: string;
    /** No more retries: the 24 hours of RFC 8460 §5.5 are over. */
    readonly final: boolean;
  }
  /** DNS failed for the domain's record: the report is tried again at the next pass. */
  | {
    readonly event: "tlsrpt.lookup_failed";
    readonly day: string;
    readonly domain: string;
    readonly reason: string;
  }
  /** A report that does not meet RFC 8460 §4.4 was built (a bug): it is not sent. */
  | {
    readonly event: "tlsrpt.invalid_report";
    readonly day: string;
    readonly domain: string;
    readonly problem: string;
  }
  /** Results the sink could not keep (database away past its bound). */
  | { readonly event: "tlsrpt.results_dropped"; readonly sessions: number; readonly reason: string }
  | { readonly event: "tlsrpt.purged"; readonly counts: number; readonly reports: number }
  | { readonly event: "tlsrpt.pass_failed"; readonly error: string };

export interface TlsReportsOptions {
  readonly clock: Clock;
  readonly store: TlsReportStore;
  /** Where `_smtp._tls.<domain>` TXT records are looked up. */
  readonly resolver: Resolver;
  readonly post: PostReport;
  readonly config: Pick<
    TlsReportsConfig,
    "organizationName" | "contact" | "from" | "submitter" | "sendHour" | "retention"
  >;
  /** This instance's id: the owner of its leases. */
  readonly instance: string;
  readonly log?: (line: TlsRptLogLine) => void;
  /** A day's lease, and an HTTPS report's claim, last this long unless renewed (5 min). */
  readonly leaseMs?: number;
  /** Longest wait between passes (15 min): retries fall due in between sending hours. */
  readonly checkEveryMs?: number;
  /** Days not reported by then (the relay was down) are still reported this late (3). */
  readonly lookbackDays?: number;
  /** While false, passes are skipped (the database is away). */
  readonly ready?: () => boolean;
}

/** What one pass did. */
export interface PassSummary {
  /** Days whose lease this instance took. */
  readonly days: readonly string[];
  /** Reports put in the outbox. */
  readonly mailed: number;
  /** Reports POSTed, retries included. */
  readonly posted: number;
  /** HTTPS attempts that failed (retried or given up). */
  readonly failedPosts: number;
}

const HOUR = 3_600_000;
const FIRST_RETRY_MS = 5 * 60_000;
// RFC 8460 §5.5: redelivery SHOULD be attempted for up to 24 hours after the first attempt.
const RETRY_FOR_MS = 24 * HOUR;
const DUE_BATCH = 50;

/** Runs passes until `signal` aborts: one at each `sendHour`, and every `checkEveryMs`. */
export async function runTlsReports(
  options: TlsReportsOptions,
  signal: AbortSignal,
): Promise<void> {
  const { clock } = options;
  const checkEvery = options.checkEveryMs ?? 15 * 60_000;
  while (!signal.aborted) {
    if (options.ready?.() ?? true) {
      try {
        await runTlsReportPass(options, signal);
      } catch (err) {
        if (signal.aborted) break;
        options.log?.({
          event: "tlsrpt.pass_failed",
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
    const now = clock.now();
    const wait = Math.min(checkEvery, nextSendTime(now, options.config.sendHour) - now);
    await clock.sleep(Math.max(1000, wait), signal).catch(() => {});
  }
}

/** The next time (ms) the clock reads `sendHour`:00 UTC, after `now`. */
export function nextSendTime(now: number, sendHour: number): number {
  const today = dayStart(utcDay(now)) + sendHour * HOUR;
  return today > now ? today : today + 24 * HOUR;
}

/**
 * One pass: reports the days due (yesterday from `sendHour` on, and any earlier day within the
 * lookback still missing reports), retries the HTTPS reports due, purges what is past retention.
 */
export async function runTlsReportPass(
  options: TlsReportsOptions,
  signal?: AbortSignal,
): Promise<PassSummary> {
  const { clock, store, config } = options;
  const now = clock.now();
  const today = utcDay(now);
  // A day is due from sendHour the next day on (§4.1: delivered after some delay).
  const before = now >= dayStart(today) + config.sendHour * HOUR ? today : addDays(today, -1);
  const from = addDays(today, -(options.lookbackDays ?? 3));
  const summary = { days: [] as string[], mailed: 0, posted: 0, failedPosts: 0 };
  for (const day of await store.pendingDays(from, before)) {
    signal?.throwIfAborted();
    if (await reportDay(options, day, summary, signal)) summary.days.push(day);
  }
  await retryDuePosts(options, summary, signal);
  const purged = await store.purge(utcDay(now - config.retention));
  if (purged.counts + purged.reports > 0) options.log?.({ event: "tlsrpt.purged", ...purged });
  return summary;
}

/** Writes the reports of `day` under its lease; false when another instance holds it. */
async function reportDay(
  options: TlsReportsOptions,
  day: string,
  summary: { mailed: number; posted: number; failedPosts: number },
  signal?: AbortSignal,
): Promise<boolean> {
  const { clock, store, instance } = options;
  const leaseMs = options.leaseMs ?? 5 * 60_000;
  if (!await store.takeDay(day, instance, clock.now(), leaseMs)) return false;
  let renewed = clock.now();
  try {
    for (const domain of await store.domainsToReport(day)) {
      signal?.throwIfAborted();
      // Renewed once a third of it has gone: a lost lease ends the day's work here (the other
      // instance carries on; the unique rows keep a report from going out twice meanwhile).
      if (clock.now() - renewed > leaseMs / 3) {
        if (!await store.keepDay(day, instance, clock.now(), leaseMs)) return true;
        renewed = clock.now();
      }
      await reportDomain(options, day, domain, summary, signal);
    }
  } finally {
    await store.releaseDay(day, instance);
  }
  return true;
}

async function reportDomain(
  options: TlsReportsOptions,
  day: string,
  domain: string,
  summary: { mailed: number; posted: number; failedPosts: number },
  signal?: AbortSignal,
): Promise<void> {
  const { clock, store, config } = options;
  const found = await lookupTlsRpt(options.resolver, domain, signal);
  if (found.kind === "error") {
    options.log?.({ event: "tlsrpt.lookup_failed", day, domain, reason: found.reason });
    return;
  }
  if (found.kind === "none") {
    await store.noteNoReport(day, domain, found.reason, clock.now());
    return;
  }
  const counts = await store.countsFor(day, domain);
  if (counts.length === 0) return;
  const reportId = reportIdFor(day, domain, config.submitter);
  const report = buildTlsReport({
    organizationName: config.organizationName,
    contactInfo: config.contact,
    reportId,
    day,
    policyDomain: domain,
  }, counts);
  const problem = reportProblem(report);
  if (problem) {
    options.log?.({ event: "tlsrpt.invalid_report", day, domain, problem });
    return;
  }
  const gzip = gzipReport(report);
  let successes = 0;
  let failures = 0;
  for (const p of report.policies) {
    successes += p.summary["total-successful-session-count"];
    failures += p.summary["total-failure-session-count"];
  }
  for (const rua of found.record.rua) {
    const key: ReportKey = { day, policyDomain: domain, rua: rua.uri, reportId, report: gzip };
    if (rua.kind === "mailto") {
      await mailReport(options, key, rua, { successes, failures }, summary);
      continue;
    }
    const claim = await store.claimPost(key, {
      owner: options.instance,
      now: clock.now(),
      leaseMs: options.leaseMs ?? 5 * 60_000,
    });
    if (claim) await postReport(options, claim, summary, signal);
  }
}

async function mailReport(
  options: TlsReportsOptions,
  key: ReportKey,
  rua: Extract<ReportUri, { kind: "mailto" }>,
  totals: { successes: number; failures: number },
  summary: { mailed: number },
): Promise<void> {
  const { config } = options;
  const raw = composeReportMail({
    from: config.from,
    to: rua.addresses,
    submitter: config.submitter,
    organizationName: config.organizationName,
    policyDomain: key.policyDomain,
    reportId: key.reportId,
    day: key.day,
    fileName: reportFileName(config.submitter, key.policyDomain, key.day),
    gzip: key.report,
    ...totals,
  });
  const outboxId = await options.store.enqueueMail(
    key,
    { from: config.from, to: rua.addresses, raw },
    options.clock.now(),
  );
  if (outboxId === undefined) return;
  summary.mailed++;
  options.log?.({
    event: "tlsrpt.sent",
    day: key.day,
    domain: key.policyDomain,
    rua: key.rua,
    via: "mail",
    reportId: key.reportId,
    outboxId,
  });
}

async function postReport(
  options: TlsReportsOptions,
  claim: ClaimedPost,
  summary: { posted: number; failedPosts: number },
  signal?: AbortSignal,
): Promise<void> {
  const { clock, store, instance } = options;
  const result = await options.post(claim.rua, claim.report, signal);
  const now = clock.now();
  const attempt = claim.attempts + 1;
  if (result.ok) {
    await store.finishPost(claim.id, instance, { kind: "sent" }, now);
    summary.posted++;
    options.log?.({
      event: "tlsrpt.sent",
      day: claim.day,
      domain: claim.policyDomain,
      rua: claim.rua,
      via: "https",
      reportId: claim.reportId,
    });
    return;
  }
  summary.failedPosts++;
  // §5.5: exponential backoff, 5 min doubling, for up to 24 hours after the first attempt.
  const at = now + FIRST_RETRY_MS * 2 ** (attempt - 1);
  const final = at > claim.createdAt + RETRY_FOR_MS;
  await store.finishPost(
    claim.id,
    instance,
    final ? { kind: "failed", error: result.reason } : { kind: "retry", at, error: result.reason },
    now,
  );
  options.log?.({
    event: "tlsrpt.post_failed",
    day: claim.day,
    domain: claim.policyDomain,
    rua: claim.rua,
    attempt,
    error: result.reason,
    final,
  });
}

async function retryDuePosts(
  options: TlsReportsOptions,
  summary: { posted: number; failedPosts: number },
  signal?: AbortSignal,
): Promise<void> {
  for (;;) {
    signal?.throwIfAborted();
    const due = await options.store.claimDuePosts({
      owner: options.instance,
      now: options.clock.now(),
      leaseMs: options.leaseMs ?? 5 * 60_000,
      limit: DUE_BATCH,
    });
    for (const claim of due) await postReport(options, claim, summary, signal);
    if (due.length < DUE_BATCH) return;
  }
}
