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
  // RFC 8460 §4.3: with no policy, a session in the clear is `starttls-not-supported`.
  const failure = r.result !== "success"
    ? r.result
    : policy.type === "no-policy-found" && !r.tls
    ? "starttls-not-supported"
    : undefined;
  return {
    domain: r.domain,
    policy,
    outcome: failure === undefined ? "success" : {
      failure,
      receivingMxHostname: r.mxHost,
      ...(r.address !== undefined ? { receivingIp: r.address } : {}),
      ...(r.reason !== undefined ? { failureReasonCode: r.reason.slice(0, 200) } : {}),
    },
    at,
  };
}
