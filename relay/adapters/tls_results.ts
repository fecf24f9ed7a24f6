/**
 * The deliverer's TLS reports as SMTP TLS Reporting results (RFC 8460 §4): the policy applied
 * becomes the report's policy (`tlsa` with its records, `sts` with its lines, or
 * `no-policy-found`), and the result its success or failure detail. A static route is the
 * operator's own hop, not the recipient domain's MX: it is not reported to that domain.
 *
 * @module
 */
import { stsPolicyStrings, type TlsResult } from "../tls_rpt/mod.ts";
import type { TlsReport } from "./smtp_deliverer.ts";

/** The TLS-RPT result of one connection attempt, or undefined when it is not reported. */
export function tlsResultOf(r: TlsReport, at: number): TlsResult | undefined {
  if (r.applied.kind === "route") return undefined;
  const policy = r.applied.kind === "dane"
    ? { type: "tlsa" as const, strings: [...r.applied.records], mxHost: r.mxHost }
    : r.applied.kind === "mta-sts"
    ? { type: "sts" as const, strings: stsPolicyStrings(r.applied.policy) }
    : { type: "no-policy-found" as const };
  // RFC 8460 §4.3: a session in the clear is `starttls-not-supported`, with no policy as under
  // a `testing` MTA-STS one, whose failures are reported while the mail still goes (RFC 8461
  // §5). (`enforce` and DANE never open a session without TLS.)
  const failure = r.result !== "success" ? r.result : !r.tls ? "starttls-not-supported" : undefined;
  return {
    domain: r.domain,
    policy,
    outcome: failure === undefined ? "success" : {
      failure,
      receivingMxHostname: r.mxHost,
      ...(r.address !== undefined ? { receivingIp: r.address } : {}),
      ...(r.reason !== undefined ? { failureReasonCode: failureReasonCode(r.reason) } : {}),
    },
    at,
  };
}

/**
 * RFC 8460 §4.4 `failure-reason-code` from the deliverer's reason: the TLS library's words,
 * without what the report says elsewhere (the MX host is `receiving-mx-hostname`) and without
 * what changes from one session to the next. Counters are keyed by every failure detail
 * (relay/tls_rpt/counts.ts, as §4.4 groups `failure-details`), so a code that carried, say, the
 * verification time rustls writes into an expired certificate's error would make one counter,
 * and one `failure-details` entry, per session instead of one per kind of failure.
 */
export function failureReasonCode(reason: string): string {
  return reason
    // relay/smtp's wrapping, and relay/tls's: the host and the policy are reported apart.
    .replace(/^TLS handshake with \S+ failed: /, "")
    .replace(/^Cannot establish TLS with '[^']*' \((?:un)?verified\): /, "")
    // rustls's context of an expired (or not yet valid) certificate: "verification time <now>
    // (UNIX), but certificate is not valid after <t> (UNIX) (<n> seconds ago)".
    .replace(/: verification time \d+ \(UNIX\)[\s\S]*$/, "")
    .slice(0, 200);
}
