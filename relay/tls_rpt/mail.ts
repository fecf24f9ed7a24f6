/**
 * A report as a mail message (RFC 8460 §5.3): `multipart/report; report-type="tlsrpt"` with a
 * short human-readable part and the gzip-compressed report as an `application/tlsrpt+gzip`
 * attachment named per §5.1, the `TLS-Report-Domain` and `TLS-Report-Submitter` header fields,
 * and the Subject §5.3 prescribes. Composed here as bytes (the outbox's `raw_message`) because
 * the outbox's structured form only makes `multipart/mixed`, and §5.3 asks for
 * `multipart/report`, which is what receivers look for.
 *
 * Date and Message-ID are left to the relay, which adds them to a raw message from the outbox
 * row (stable across retries); DKIM signing happens there too when the From domain has a key.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";

export interface ReportMailInput {
  /** The From mailbox, printable ASCII (`tlsrpt@example.com` or `Name <tlsrpt@example.com>`). */
  readonly from: string;
  /** The rua's addresses. */
  readonly to: readonly string[];
  /** The sending MTA's domain: TLS-Report-Submitter, the file name's sender, the DKIM d=. */
  readonly submitter: string;
  readonly organizationName: string;
  readonly policyDomain: string;
  /** `id-left@id-right` (see reportIdFor). */
  readonly reportId: string;
  /** The UTC day covered, `YYYY-MM-DD`. */
  readonly day: string;
  readonly fileName: string;
  readonly gzip: Uint8Array;
  /** For the human-readable part. */
  readonly successes: number;
  readonly failures: number;
}

const CRLF = "\r\n";

/** The message's bytes, CRLF line ends (the header fields folded where they grow long). */
export function composeReportMail(m: ReportMailInput): Uint8Array {
  for (const [what, value] of Object.entries({ from: m.from, to: m.to.join(", ") })) {
    // Header injection, and non-ASCII that would need encoded words, are refused outright.
    if (!/^[\x20-\x7e]+$/.test(value)) throw new RangeError(`${what} must be printable ASCII`);
  }
  const boundary = `=_tlsrpt_${createHash("sha256").update(m.reportId).digest("hex").slice(0, 24)}`;
  const organization = m.organizationName.replace(/[^\x20-\x7e]+/g, "?");
  const text = [
    `This is an aggregate TLS report (RFC 8460) from ${organization} (${m.submitter})`,
    `for ${m.policyDomain}, covering ${m.day} 00:00 to 24:00 UTC:`,
    `${m.successes} successful and ${m.failures} failed TLS sessions.`,
    "The report is attached as:",
    m.fileName,
  ];
  const base64 = Buffer.from(m.gzip).toString("base64").match(/.{1,76}/g) ?? [];
  const lines = [
    `From: ${m.from}`,
    `To: ${m.to.join(", ")}`,
    // §5.3's tlsrpt-subject, folded where its FWS allows.
    `Subject: Report Domain: ${m.policyDomain}`,
    ` Submitter: ${m.submitter}`,
    ` Report-ID: <${m.reportId}>`,
    `TLS-Report-Domain: ${m.policyDomain}`,
    `TLS-Report-Submitter: ${m.submitter}`,
    // RFC 3834 §5: machine-made, so no auto-reply comes back.
    "Auto-Submitted: auto-generated",
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type="tlsrpt";`,
    ` boundary="${boundary}"`,
    "",
    "This is a multipart message in MIME format.",
    "",
    `--${boundary}`,
    `Content-Type: text/plain; charset="us-ascii"`,
    "Content-Transfer-Encoding: 7bit",
    "",
    ...text,
    "",
    `--${boundary}`,
    "Content-Type: application/tlsrpt+gzip",
    "Content-Transfer-Encoding: base64",
    "Content-Disposition: attachment;",
    ` filename="${m.fileName}"`,
    "",
    ...base64,
    `--${boundary}--`,
    "",
  ];
  return new TextEncoder().encode(lines.join(CRLF));
}
