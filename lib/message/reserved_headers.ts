/**
 * Which header fields an application may set through `headers`, decided in one place for
 * validation (ingestion and the API) and composition alike, so the two can never drift apart.
 *
 * Reserved are the fields Ferry writes from the row's own columns or must write itself (an extra
 * one would contradict them, leak Bcc or break MIME or DKIM). Settable, besides any other field:
 * `Message-ID` (for threading; it must look like `<id@domain>`), `In-Reply-To`, `References`,
 * `Reply-To` (when the `reply_to` column is not also set), `List-Unsubscribe`,
 * `List-Unsubscribe-Post` and `TLS-Required: No` (RFC 8689 §3; its only value).
 *
 * @module
 */

export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  "from",
  "to",
  "cc",
  "bcc",
  "resent-bcc",
  "subject",
  "date",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "dkim-signature",
  "return-path",
]);

/** RFC 5322 §3.6.8: printable US-ASCII except ':'. */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;
/** RFC 5322 §3.6.4 msg-id, without obsolete forms. */
const MSG_ID = /^<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x5a\x5e-\x7e]+>$/;
// Any control character but HTAB: CR and LF above all (header injection).
// deno-lint-ignore no-control-regex -- matching control characters is the point
const UNSAFE = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Why `headers[name] = value` cannot be set, or undefined when it can. */
export function extraHeaderProblem(
  name: string,
  value: unknown,
  options: { replyToColumn?: boolean } = {},
): string | undefined {
  if (!FIELD_NAME.test(name)) {
    return `header name ${JSON.stringify(name)} is not a valid field name`;
  }
  const lower = name.toLowerCase();
  if (RESERVED_HEADERS.has(lower)) {
    return `header ${name} cannot be set in headers: it comes from its own column or from Ferry`;
  }
  if (typeof value !== "string") return `header ${name} must be a string`;
  if (UNSAFE.test(value)) {
    return `header ${name} contains CR, LF or another control character (header injection)`;
  }
  if (lower === "message-id" && !MSG_ID.test(value.trim())) {
    return `header Message-ID must look like <id@domain>: current value is ${
      JSON.stringify(value)
    }`;
  }
  if (lower === "reply-to" && options.replyToColumn) {
    return "header Reply-To cannot be set in headers when the reply_to column is set";
  }
  // RFC 8689 §3 defines TLS-Required with the single value "No" (deliver even when TLS cannot
  // be had); "Yes" would be read by no one, so an application meaning it is told of require_tls.
  if (lower === "tls-required" && value.trim().toLowerCase() !== "no") {
    return `header TLS-Required only takes the value No (RFC 8689 §3): current value is ${
      JSON.stringify(value)
    }; to require TLS, set require_tls`;
  }
  return undefined;
}
