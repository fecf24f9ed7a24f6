/**
 * What kind of TLS failure a handshake error is, in the result types of SMTP TLS Reporting
 * (RFC 8460 §4.3.2), so that the relay counts, records and reports each failure by the same
 * name. Read from the TLS library's message: rustls (behind `Deno.startTls` and `node:tls` here)
 * names the certificate problem in its error text.
 *
 * @module
 */

/** RFC 8460 §4.3.2 result types a sending MTA can observe in a TLS negotiation. */
export type TlsFailureType =
  | "starttls-not-supported"
  | "certificate-host-mismatch"
  | "certificate-expired"
  | "certificate-not-trusted"
  | "validation-failure";

/** The result type of a failed TLS handshake, from its error text. */
export function tlsFailureType(message: string): TlsFailureType {
  const m = message.toLowerCase();
  if (/expired|notvalidyet|not valid yet/.test(m)) return "certificate-expired";
  if (/not valid for name|notvalidforname|hostname mismatch|host name mismatch|altname/.test(m)) {
    return "certificate-host-mismatch";
  }
  if (/unknownissuer|unknown issuer|self[- ]signed|untrusted|not trusted|unable to get/.test(m)) {
    return "certificate-not-trusted";
  }
  return "validation-failure";
}
