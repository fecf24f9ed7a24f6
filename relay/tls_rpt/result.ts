/**
 * The port a sending MTA reports through: one {@link TlsResult} per SMTP session (or per failed
 * attempt to apply a policy before any session), as RFC 8460 counts them. The SMTP deliverer
 * calls {@link TlsResultSink.record}; everything after that (aggregation per day, storage, the
 * daily report) lives behind it.
 *
 * @module
 */

/** The policy types of RFC 8460 §4.4 (`policy-type`). */
export const POLICY_TYPES = ["sts", "tlsa", "no-policy-found"] as const;
export type PolicyType = typeof POLICY_TYPES[number];

/**
 * The result types of RFC 8460 §4.3 (the IANA "STARTTLS Validation Result Types" registry):
 * §4.3.1 negotiation failures, §4.3.2.1 DANE, §4.3.2.2 MTA-STS.
 */
export const FAILURE_TYPES = [
  // §4.3.1: the TLS negotiation itself.
  "starttls-not-supported",
  "certificate-host-mismatch",
  "certificate-expired",
  "certificate-not-trusted",
  "validation-failure",
  // §4.3.2.1: DANE TLSA (RFC 7672).
  "tlsa-invalid",
  "dnssec-invalid",
  "dane-required",
  // §4.3.2.2: MTA-STS (RFC 8461).
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
  /** `success`: TLS was negotiated and the policy held (RFC 8460 §4.3 success count). */
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
