/**
 * Validation of one outbox row, pure: the row in, either its recipients (each valid or rejected
 * with a reason) or a reason that rejects the whole row. Nothing here touches the database, so
 * every rule is unit-tested directly and a bad row can never break a batch.
 *
 * @module
 */
import { type Mailbox, parseMailbox } from "./address.ts";
import { extraHeaderProblem } from "./reserved_headers.ts";
import { parseAttachments } from "./attachments.ts";

export interface OutboxRowInput {
  readonly id: number;
  readonly from_address: string | null;
  readonly to_addresses: readonly (string | null)[] | null;
  readonly cc_addresses: readonly (string | null)[] | null;
  readonly bcc_addresses: readonly (string | null)[] | null;
  readonly reply_to: string | null;
  readonly subject: string | null;
  readonly has_text: boolean;
  readonly has_html: boolean;
  readonly headers: unknown;
  readonly has_raw: boolean;
  /** Octets of the content (raw message, or subject + bodies + headers). */
  readonly size: number;
  /** The row's `attachments` JSON when it has some (read only for rows within the size limit). */
  readonly has_attachments?: boolean;
  readonly attachments?: unknown;
  /** Why the raw message cannot be sent (bad header block, no From, a line over 998 octets). */
  readonly raw_problem?: string | null;
  readonly priority: number;
  /** REQUIRETLS (RFC 8689) asked for; absent means false. */
  readonly require_tls?: boolean;
  /** One-click unsubscribe (RFC 8058) asked for; absent means false. */
  readonly list_unsubscribe?: boolean;
}

export interface ValidationLimits {
  /** Largest message accepted, in octets. */
  readonly maxMessageSize: number;
  /** Most recipients (to + cc + bcc, after merging duplicates) in one row. */
  readonly maxRecipients: number;
}

export const DEFAULT_LIMITS: ValidationLimits = {
  maxMessageSize: 25 * 1024 * 1024,
  maxRecipients: 1000,
};

export type RecipientVerdict =
  | { readonly ok: true; readonly mailbox: Mailbox }
  | { readonly ok: false; readonly input: string; readonly reason: string };

export type RowVerdict =
  | { readonly kind: "accepted"; readonly recipients: readonly RecipientVerdict[] }
  | { readonly kind: "rejected"; readonly reason: string; readonly recipients: readonly string[] };

// Any control character but HTAB: CR and LF above all (header injection).
// deno-lint-ignore no-control-regex -- matching control characters is the point
const HEADER_UNSAFE = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Validates one row. */
export function validateRow(
  row: OutboxRowInput,
  limits: ValidationLimits = DEFAULT_LIMITS,
): RowVerdict {
  const rawRecipients = [
    ...(row.to_addresses ?? []),
    ...(row.cc_addresses ?? []),
    ...(row.bcc_addresses ?? []),
  ].map((r) => r ?? "");
  const reject = (reason: string): RowVerdict => ({
    kind: "rejected",
    reason,
    recipients: rawRecipients,
  });

  const rowProblem = checkRow(row, limits);
  if (rowProblem) return reject(rowProblem);
  if (rawRecipients.length === 0) {
    return reject("no recipients: to_addresses, cc_addresses and bcc_addresses are all empty");
  }

  const seen = new Set<string>();
  const recipients: RecipientVerdict[] = [];
  for (const input of rawRecipients) {
    const parsed = parseMailbox(input);
    if (!parsed.ok) {
      const key = `!${input}`;
      if (seen.has(key)) continue;
      seen.add(key);
      recipients.push({ ok: false, input, reason: `invalid recipient: ${parsed.reason}` });
      continue;
    }
    if (seen.has(parsed.mailbox.address)) continue; // the same address in to and bcc: once
    seen.add(parsed.mailbox.address);
    recipients.push({ ok: true, mailbox: parsed.mailbox });
  }
  if (recipients.length > limits.maxRecipients) {
    return reject(
      `too many recipients: ${recipients.length} exceeds the limit of ${limits.maxRecipients}`,
    );
  }
  return { kind: "accepted", recipients };
}

function checkRow(row: OutboxRowInput, limits: ValidationLimits): string | undefined {
  if (!row.from_address) return "from_address is required";
  const from = parseMailbox(row.from_address);
  if (!from.ok) return `invalid from_address: ${from.reason}`;
  if (row.reply_to !== null && row.reply_to !== "") {
    const replyTo = parseMailbox(row.reply_to);
    if (!replyTo.ok) return `invalid reply_to: ${replyTo.reason}`;
  }
  if (![0, 1, 2].includes(row.priority)) {
    return `invalid priority: must be 0 (high), 1 (normal) or 2 (low): current value is ${row.priority}`;
  }
  const structured = row.subject !== null || row.has_text || row.has_html || row.headers !== null;
  if (row.has_raw && structured) {
    return "raw_message cannot be mixed with subject, text_body, html_body or headers";
  }
  if (!row.has_raw && !row.has_text && !row.has_html) {
    return "no content: set text_body and/or html_body, or raw_message";
  }
  if (row.size > limits.maxMessageSize) {
    return `message too large: ${row.size} octets exceeds the limit of ${limits.maxMessageSize}`;
  }
  if (row.has_raw && row.raw_problem) return row.raw_problem;
  if (row.has_attachments) {
    if (row.has_raw) return "raw_message cannot be mixed with attachments (put them in the MIME)";
    const parsed = parseAttachments(row.attachments);
    if (!parsed.ok) return parsed.reason;
  }
  if (row.subject !== null && HEADER_UNSAFE.test(row.subject)) {
    return "subject contains CR, LF or another control character (header injection)";
  }
  if (row.headers !== null) {
    const problem = checkHeaders(row.headers, row.reply_to !== null && row.reply_to !== "");
    if (problem) return problem;
    // TLS-Required: No asks to deliver even without TLS, require_tls to bounce rather than do
    // that: a row asking both has a mistake its application should hear about.
    const tlsRequired = Object.keys(row.headers as object)
      .find((name) => name.toLowerCase() === "tls-required");
    if (row.require_tls === true && tlsRequired) {
      return `require_tls cannot be combined with the header ${tlsRequired}: No, ` +
        "which asks for the opposite (RFC 8689)";
    }
    // Ferry writes both fields itself for such a row; a second copy would leave the receiver
    // two unsubscribe targets (RFC 2369 §3.2 allows one field of each).
    const own = Object.keys(row.headers as object)
      .find((name) => /^list-unsubscribe(-post)?$/i.test(name));
    if (row.list_unsubscribe === true && own) {
      return `list_unsubscribe cannot be combined with the header ${own}: ` +
        "Ferry writes List-Unsubscribe and List-Unsubscribe-Post itself for this row";
    }
  }
  return undefined;
}

function checkHeaders(headers: unknown, replyToColumn: boolean): string | undefined {
  if (typeof headers !== "object" || Array.isArray(headers) || headers === null) {
    return "headers must be a JSON object of header name to string value";
  }
  for (const [name, value] of Object.entries(headers)) {
    const problem = extraHeaderProblem(name, value, { replyToColumn });
    if (problem) return problem;
  }
  return undefined;
}
