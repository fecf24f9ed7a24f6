/**
 * SMTP TLS Reporting (RFC 8460): the results of outbound TLS sessions counted per UTC day, and
 * the reports sent from them.
 *
 * `tls_rpt_results` holds counters, not sessions: a report only carries counts (RFC 8460 §4.4),
 * so each (day, policy, outcome, failure details) is one row whose `sessions` every instance
 * increments with an upsert. Empty strings stand for "not known" so the primary key can carry
 * every column.
 *
 * `tls_rpt_reports` has one row per (day, policy domain, rua), inserted before the report goes
 * out: the unique row is what makes a day's report go out once across instances. A domain
 * without a usable `_smtp._tls` record gets one row with rua '' (status `no-record`), so it is
 * not looked up again for that day.
 */
export const up = `
CREATE TABLE ferry.tls_rpt_results (
  -- The UTC day of the sessions (RFC 8460 §4.1).
  day                   date NOT NULL,
  -- The policy domain, lower-case A-labels.
  policy_domain         text NOT NULL CHECK (policy_domain = lower(policy_domain)),
  policy_type           text NOT NULL CHECK (policy_type IN ('sts', 'tlsa', 'no-policy-found')),
  -- SHA-256 (hex) of the policy strings, '' without strings; the strings themselves beside it.
  policy_hash           text NOT NULL,
  policy_strings        text[] NOT NULL,
  mx_host               text NOT NULL,
  -- 'success', or an RFC 8460 §4.3 result type.
  result_type           text NOT NULL CHECK (result_type IN ('success',
                          'starttls-not-supported', 'certificate-host-mismatch',
                          'certificate-expired', 'certificate-not-trusted', 'validation-failure',
                          'tlsa-invalid', 'dnssec-invalid', 'dane-required',
                          'sts-policy-fetch-error', 'sts-policy-invalid', 'sts-webpki-invalid')),
  sending_mta_ip        text NOT NULL,
  receiving_mx_hostname text NOT NULL,
  receiving_mx_helo     text NOT NULL,
  receiving_ip          text NOT NULL,
  additional_info       text NOT NULL,
  failure_reason_code   text NOT NULL,
  sessions              bigint NOT NULL CHECK (sessions > 0),
  PRIMARY KEY (day, policy_domain, policy_type, policy_hash, mx_host, result_type,
               sending_mta_ip, receiving_mx_hostname, receiving_mx_helo, receiving_ip,
               additional_info, failure_reason_code)
);

CREATE TABLE ferry.tls_rpt_reports (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  day              date NOT NULL,
  policy_domain    text NOT NULL,
  -- The URI of the rua field (mailto: or https:); '' for a domain without a usable record.
  rua              text NOT NULL,
  report_id        text NOT NULL,
  -- pending: claimed or waiting for a retry (HTTPS); sent: POSTed, or in the outbox (mailto:);
  -- failed: retries given up (RFC 8460 §5.5); no-record: nothing to send to.
  status           text NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'no-record')),
  -- The gzip-compressed JSON as first built: retries send the same bytes.
  report           bytea,
  attempts         integer NOT NULL DEFAULT 0,
  -- Who is sending it now, until when (a crashed sender's claim runs out).
  owner            text,
  lease_expires_at timestamptz,
  next_attempt_at  timestamptz,
  last_error       text,
  -- The outbox row of a mailed report.
  outbox_id        bigint,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  sent_at          timestamptz,
  UNIQUE (day, policy_domain, rua)
);

-- The retry scan: only reports still to send.
CREATE INDEX tls_rpt_reports_due ON ferry.tls_rpt_reports (next_attempt_at)
  WHERE status = 'pending';
`;
