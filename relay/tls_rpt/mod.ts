/**
 * SMTP TLS Reporting (RFC 8460) for a sending MTA: the deliverer records one result per session
 * through {@link TlsResultSink}; the results are counted per UTC day, policy and outcome; once a
 * day each policy domain that publishes a `_smtp._tls` record gets its report, by mail or HTTPS.
 *
 * ```ts ignore
 * // The deliverer, after each session (or after a policy could not be applied):
 * sink.record({
 *   domain: "example.com",
 *   policy: { type: "sts", strings: policyLines },
 *   outcome: { failure: "certificate-expired", receivingMxHostname: "mx1.example.com" },
 *   at: clock.now(),
 * });
 *
 * // The composition root:
 * const sink = new TlsResultBatcher(store); // store: relay/adapters/tls_rpt_store.ts
 * runTlsReports({ clock, store, resolver, post: httpsReportPoster({ clock }), config, instance },
 *   signal);
 * ```
 *
 * @module
 */
export {
  type AppliedPolicy,
  FAILURE_TYPES,
  type FailureType,
  isTlsReportMail,
  NO_TLS_RESULTS,
  POLICY_TYPES,
  type PolicyType,
  stsPolicyStrings,
  type TlsFailure,
  type TlsResult,
  type TlsResultSink,
} from "./result.ts";
export {
  addDays,
  asciiDomain,
  countKey,
  countOf,
  dayStart,
  policyHash,
  type ResultCount,
  utcDay,
} from "./counts.ts";
export { TlsResultBatcher, type TlsResultBatcherOptions, type TlsResultStore } from "./batcher.ts";
export {
  isTlsRptRecord,
  lookupTlsRpt,
  parseTlsRptRecord,
  type ReportUri,
  selectTlsRptRecord,
  type TlsRptLookup,
  type TlsRptRecord,
  type TlsRptRecordResult,
} from "./txt_record.ts";
export {
  buildTlsReport,
  gzipReport,
  reportFileName,
  reportIdFor,
  type ReportMeta,
  reportProblem,
  type TlsReport,
  tlsReportSchema,
} from "./report.ts";
export { composeReportMail, type ReportMailInput } from "./mail.ts";
export { httpsReportPoster, type PostReport, type ReportPosterOptions } from "./https_post.ts";
export type { ClaimedPost, PostOutcome, ReportKey, ReportMail, TlsReportStore } from "./store.ts";
export {
  nextSendTime,
  type PassSummary,
  runTlsReportPass,
  runTlsReports,
  type TlsReportsOptions,
  type TlsRptLogLine,
} from "./runner.ts";
export { type TlsReportsConfig, type TlsReportsConfigInput, tlsReportsSchema } from "./config.ts";
