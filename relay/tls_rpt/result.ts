/**
 * The port a sending MTA reports through: one {@link TlsResult} per SMTP session (or per failed
 * attempt to apply a policy before any session), as RFC 8460 counts them. The SMTP deliverer
 * calls {@link TlsResultSink.record}; everything after that (aggregation per day, storage, the
 * daily report) lives behind it.
 *
 * Which result for which event (RFC 8460 §4.3), `policy.type` being the policy applied:
 *
 * | event                                                         | outcome                     |
 * | ------------------------------------------------------------- | --------------------------- |
 * | TLS negotiated, and the policy (if any) held                  | `"success"`                 |
 * | no STARTTLS in the EHLO reply, or STARTTLS refused            | `starttls-not-supported`    |
 * | the certificate does not name the MX host                     | `certificate-host-mismatch` |
 * | the certificate expired (or is not yet valid)                 | `certificate-expired`       |
 * | unknown CA, self-signed, broken chain                         | `certificate-not-trusted`   |
 * | a handshake alert, an MX host outside the MTA-STS policy, ... | `validation-failure`        |
 * | DANE: no TLSA record matches the certificate                  | `tlsa-invalid`              |
 * | DANE: the TLSA answer failed DNSSEC validation                | `dnssec-invalid`            |
 * | DANE required, but no DNSSEC-validated TLSA records           | `dane-required`             |
 * | MTA-STS: the policy could not be fetched (HTTP, timeout)      | `sts-policy-fetch-error`    |
 * | MTA-STS: the policy file does not parse                       | `sts-policy-invalid`        |
 * | MTA-STS: the policy host's HTTPS certificate is invalid       | `sts-webpki-invalid`        |
 *
 * With `no-policy-found` a session in the clear is `starttls-not-supported` and one over TLS,
 * verified or not, a success; so is a session in the clear under a `testing` MTA-STS policy,
 * which delivers anyway and reports (RFC 8461 §5), and one with an MX host such a policy does
 * not list is a `validation-failure` (`mx-host-mismatch`). A policy failure that prevents the session (a fetch error under
 * a cached `enforce` policy, say) is still one failed session. `failureReasonCode` carries the
 * detail (the TLS alert, the verifier's error, `mx-host-mismatch`); §4.3 asks for it with
 * `certificate-not-trusted` in particular.
 *
 * A TLS report mail itself (outbox `metadata.ferry` = `"tls-rpt"`, see {@link isTlsReportMail})
 * must be delivered despite TLS failures and should not be counted (RFC 8460 §5.3).
 *
 * @module
 */

/** The policy types of RFC 8460 §4.4 (`policy-type`). */
export const POLICY_TYPES = ["sts", "tlsa", "no-policy-found"] as const;
export type PolicyType = typeof POLICY_TYPES[number];

/**
 * The result types of RFC 8460 §4.3, as the IANA "STARTTLS Validation Result Types" registry
 * lists them: failures of the negotiation, of a DANE policy, of an MTA-STS policy, and the
 * general one.
 */
export const FAILURE_TYPES = [
  // The TLS negotiation itself, and the general failure.
  "starttls-not-supported",
  "certificate-host-mismatch",
  "certificate-expired",
  "certificate-not-trusted",
  "validation-failure",
  // DANE TLSA (RFC 7672).
  "tlsa-invalid",
  "dnssec-invalid",
  "dane-required",
  // MTA-STS (RFC 8461).
  "sts-policy-fetch-error",
  "sts-policy-invalid",
  "sts-webpki-invalid",
] as const;
export type FailureType = typeof FAILURE_TYPES[number];

/** The policy that was applied (or looked for) when the session was made. */
export interface AppliedPolicy {
  readonly type: PolicyType;
  /**
   * RFC 8460 §4.4 `policy-string`: for `sts` the policy file's lines (RFC 8461 §3.2), for
   * `tlsa` the TLSA records in presentation form; absent for `no-policy-found`.
   */
  readonly strings?: readonly string[];
  /**
   * RFC 8460 §4.4 `mx-host`: for `tlsa`, the MX host the TLSA records belong to (each MX host
   * has its own DANE policy). For `sts`, leave it out: the report takes the patterns from the
   * policy's `mx:` lines.
   */
  readonly mxHost?: string;
}

/** Why a session failed: RFC 8460 §4.4 `failure-details`, one session's worth. */
export interface TlsFailure {
  readonly failure: FailureType;
  /** The address the relay connected from. */
  readonly sendingMtaIp?: string;
  /** The MX host name connected to (as the MX record or route named it). */
  readonly receivingMxHostname?: string;
  /** The name the receiving MX gave in its EHLO reply, when known. */
  readonly receivingMxHelo?: string;
  /** The address connected to. */
  readonly receivingIp?: string;
  /** A URI with more about the failure (RFC 8460 §4.4 `additional-information`). */
  readonly additionalInfo?: string;
  /** Free text for the receiver's operator: the TLS alert, the verifier's error. */
  readonly failureReasonCode?: string;
}

/** One session's result, as the deliverer reports it. */
export interface TlsResult {
  /** The policy domain: the recipient domain, as in the `_smtp._tls.<domain>` record. */
  readonly domain: string;
  readonly policy: AppliedPolicy;
  /** `success`: TLS was negotiated and the policy held (RFC 8460 §4.2, the success count). */
  readonly outcome: "success" | TlsFailure;
  /** When it happened, in ms since the epoch: it decides the UTC day (RFC 8460 §4.1). */
  readonly at: number;
}

/**
 * Where the deliverer reports results. `record` must be cheap and must never throw or wait: it
 * is called on the delivery path, once per session.
 */
export interface TlsResultSink {
  record(result: TlsResult): void;
}

/** A sink that drops everything: for a relay with TLS reporting off. */
export const NO_TLS_RESULTS: TlsResultSink = { record() {} };

/**
 * RFC 8460 §4.4 `policy-string` of an MTA-STS policy: its lines as RFC 8461 §3.2 writes them,
 * for a deliverer that kept the policy's fields rather than its text.
 */
export function stsPolicyStrings(
  policy: { readonly mode: string; readonly mx: readonly string[]; readonly maxAge: number },
): string[] {
  return [
    "version: STSv1",
    `mode: ${policy.mode}`,
    ...policy.mx.map((mx) => `mx: ${mx}`),
    `max_age: ${policy.maxAge}`,
  ];
}

/**
 * Whether an outbox row's metadata marks it as a TLS report mail (as db/tls_rpt.ts writes it):
 * RFC 8460 §5.3 wants it delivered despite TLS failures, and not counted in the next report.
 */
export function isTlsReportMail(metadata: Readonly<Record<string, unknown>> | null | undefined) {
  return metadata?.ferry === "tls-rpt";
}
