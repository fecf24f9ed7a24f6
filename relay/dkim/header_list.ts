/**
 * Which header fields a DKIM signature covers (RFC 6376 §5.4.1 lists what SHOULD be signed),
 * and which are oversigned so that a copy added in transit breaks the signature (§8.15).
 *
 * @module
 */

/** Signed when present. Trace fields (Received, Return-Path) are left out: relays add them. */
export const DEFAULT_SIGNED_HEADERS: readonly string[] = [
  "from",
  "sender",
  "reply-to",
  "subject",
  "date",
  "message-id",
  "to",
  "cc",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "content-id",
  "content-description",
  "in-reply-to",
  "references",
  "list-id",
  "list-help",
  "list-unsubscribe",
  // RFC 8058 §4: a one-click unsubscribe needs List-Unsubscribe-Post covered by a signature.
  "list-unsubscribe-post",
  "list-subscribe",
  "list-post",
  "list-owner",
  "list-archive",
  "feedback-id",
  // RFC 8460 §5.3: a TLS report's own header fields SHOULD be covered by its signature.
  "tls-report-domain",
  "tls-report-submitter",
];

/** From is the field DMARC judges, so it must never gain a second, unsigned copy. */
export const DEFAULT_OVERSIGNED_HEADERS: readonly string[] = ["from"];
