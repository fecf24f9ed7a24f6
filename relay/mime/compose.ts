/**
 * Composing the message to send from an outbox row, with nodemailer's MailComposer doing the
 * MIME work: UTF-8 text, RFC 2047 encoded words in headers, quoted-printable or base64 bodies,
 * multipart/alternative when there are both a text and an HTML body.
 *
 * Composition is deterministic: the Date comes from the row's creation time (or the injected
 * clock), the Message-ID and MIME boundary from the row's id, so composing the same row again
 * (a retry after a crash) gives the same bytes. Bcc addresses never reach the headers.
 *
 * A raw message (`raw_message`) passes through byte for byte.
 *
 * @module
 */
import MailComposer from "nodemailer/lib/mail-composer/index.js";
import type { Clock } from "../../lib/clock.ts";
import { type Mailbox, parseMailbox } from "../../lib/message/address.ts";
import { Buffer } from "node:buffer";
import { extraHeaderProblem } from "../../lib/message/reserved_headers.ts";
import { encodedWords, needsEncodedWords } from "./encoded_words.ts";
import { parseAttachments } from "../../lib/message/attachments.ts";
import { analyseMessage, headerValues, type MessageNeeds } from "./message_bytes.ts";
import { boundaryFor, messageIdFor, type OutboxId } from "./message_id.ts";
import { crlfLineEnds, type MimeNodeLike, nodeBytes } from "./node_bytes.ts";

/** The fields of a `ferry.outbox` row that make up the message. */
export interface OutboxMessage {
  readonly id: OutboxId;
  readonly from: string;
  readonly to?: readonly string[];
  readonly cc?: readonly string[];
  /** Only checked for SMTPUTF8 needs: Bcc never appears in the headers. */
  readonly bcc?: readonly string[];
  readonly replyTo?: string | null;
  readonly subject?: string | null;
  readonly text?: string | null;
  readonly html?: string | null;
  /** Extra header fields, name to value. */
  readonly headers?: Readonly<Record<string, unknown>> | null;
  /** A complete RFC 5322 message; when set, subject, bodies and headers must be empty. */
  readonly raw?: Uint8Array | null;
  /** `[{ filename, content_type, content (base64), content_id? }]` (attachments.ts). */
  readonly attachments?: unknown;
  /** The row's `created_at`: the Date header, and part of the Message-ID hash. */
  readonly createdAt?: Date | number | null;
}

export interface ComposeOptions {
  /** Right-hand side of generated Message-IDs, e.g. the relay's or the sender's domain. */
  readonly messageIdDomain: string;
  /** Used for the Date header when the row has no `createdAt`. */
  readonly clock: Clock;
}

export interface ComposedMessage extends MessageNeeds {
  readonly bytes: Uint8Array;
  /** With angle brackets; undefined for a raw message without one. */
  readonly messageId: string | undefined;
}

export type ComposeResult =
  | { readonly kind: "composed"; readonly message: ComposedMessage }
  /** The row cannot become a message; `reason` says which field and why (status `rejected`). */
  | { readonly kind: "invalid"; readonly reason: string };

export async function composeMessage(
  input: OutboxMessage,
  options: ComposeOptions,
): Promise<ComposeResult> {
  if (input.raw) return passRaw(input);
  const createdAt = input.createdAt == null ? options.clock.now() : +input.createdAt;
  if (!Number.isFinite(createdAt)) return invalid("created_at is not a valid time");
  const addresses = parseAddresses(input);
  if (typeof addresses === "string") return invalid(addresses);
  const extra = checkHeaders(input.headers, addresses.replyTo !== undefined);
  if (typeof extra === "string") return invalid(extra);
  const files = parseAttachments(input.attachments);
  if (!files.ok) return invalid(files.reason);

  const messageId = extra.messageId ?? messageIdFor(input.id, createdAt, options.messageIdDomain);
  const composer = new MailComposer({
    from: header(addresses.from),
    to: addresses.to.map(header),
    cc: addresses.cc.map(header),
    replyTo: addresses.replyTo ? header(addresses.replyTo) : undefined,
    // Text nodemailer would write as is but that cannot travel as is (a word too long to fold,
    // an encoded-word lookalike) goes as encoded words instead.
    subject: input.subject == null
      ? undefined
      : needsEncodedWords(input.subject)
      ? encodedWords(input.subject)
      : input.subject,
    text: input.text ?? undefined,
    html: input.html ?? undefined,
    date: new Date(createdAt),
    messageId,
    baseBoundary: boundaryFor(input.id, createdAt, options.messageIdDomain),
    // With a content id a part is inline (multipart/related, `cid:` in the html).
    attachments: files.attachments.map((a) => ({
      filename: a.filename,
      content: Buffer.from(a.content),
      contentType: a.contentType,
      ...(a.contentId ? { cid: a.contentId, contentDisposition: "inline" as const } : {}),
    })),
    // No `newline` option: nodeBytes() turns line ends into CRLF itself (crlfLineEnds).
  });
  const node = composer.compile();
  // Added after compile() so the extra fields come after From/To/Subject/Date, for readers.
  for (const [name, value] of extra.fields) node.addHeader(name, value);
  const bytes = await nodeBytes(node as unknown as MimeNodeLike);
  const needs = analyseMessage(bytes);
  const utf8Address = Object.values(addresses).flat().some((m) => m?.smtputf8);
  return {
    kind: "composed",
    message: { bytes, messageId, ...needs, needsSmtpUtf8: needs.needsSmtpUtf8 || utf8Address },
  };
}

/** Every LF not preceded by CR becomes CRLF (re-exported: the composer's line-end rule). */
export { crlfLineEnds };

function passRaw(input: OutboxMessage): ComposeResult {
  const mixed: string[] = (["subject", "text", "html"] as const).filter((k) => input[k] != null);
  if (Array.isArray(input.attachments) && input.attachments.length > 0) mixed.push("attachments");
  if (input.headers != null && Object.keys(input.headers).length > 0) mixed.push("headers");
  if (mixed.length > 0) {
    return invalid(`raw_message is set, so ${mixed.join(", ")} must be empty`);
  }
  const bytes = input.raw!;
  const messageId = headerValues(bytes, "message-id")[0];
  return { kind: "composed", message: { bytes, messageId, ...analyseMessage(bytes) } };
}

interface Addresses {
  readonly from: Mailbox;
  readonly to: readonly Mailbox[];
  readonly cc: readonly Mailbox[];
  readonly bcc: readonly Mailbox[];
  readonly replyTo: Mailbox | undefined;
}

function parseAddresses(input: OutboxMessage): Addresses | string {
  const one = (field: string, value: string): Mailbox | string => {
    const parsed = parseMailbox(value);
    return parsed.ok ? parsed.mailbox : `${field}: ${parsed.reason}`;
  };
  const list = (field: string, values: readonly string[] = []): Mailbox[] | string => {
    const out: Mailbox[] = [];
    for (const [i, value] of values.entries()) {
      const m = one(`${field}[${i}]`, value);
      if (typeof m === "string") return m;
      out.push(m);
    }
    return out;
  };
  const from = one("from", input.from);
  if (typeof from === "string") return from;
  const to = list("to", input.to);
  if (typeof to === "string") return to;
  const cc = list("cc", input.cc);
  if (typeof cc === "string") return cc;
  const bcc = list("bcc", input.bcc);
  if (typeof bcc === "string") return bcc;
  const replyTo = input.replyTo ? one("reply_to", input.replyTo) : undefined;
  if (typeof replyTo === "string") return replyTo;
  return { from, to, cc, bcc, replyTo };
}

function checkHeaders(
  headers: OutboxMessage["headers"],
  replyToColumn: boolean,
): { fields: [string, string][]; messageId: string | undefined } | string {
  const fields: [string, string][] = [];
  let messageId: string | undefined;
  for (const [name, value] of Object.entries(headers ?? {})) {
    const problem = extraHeaderProblem(name, value, { replyToColumn });
    if (problem) return `headers[${JSON.stringify(name)}]: ${problem}`;
    if (name.toLowerCase() === "message-id") {
      messageId = (value as string).trim();
      continue;
    }
    fields.push([name, value as string]);
  }
  return { fields, messageId };
}

/** The form nodemailer takes: it encodes the display name (RFC 2047) and keeps the address. */
function header(m: Mailbox): { name: string; address: string } {
  return { name: m.name, address: m.address };
}

function invalid(reason: string): ComposeResult {
  return { kind: "invalid", reason };
}
