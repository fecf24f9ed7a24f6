/**
 * Attachments of the structured form (`ferry.outbox.attachments`, the API's `attachments`),
 * checked strictly before anything is queued: an array of
 * `{ filename, content_type, content, content_id? }` with base64 content. A `content_id` makes
 * the part inline (`cid:` in html_body); types that can run script are refused inline, since a
 * mail reader would render them inside the message.
 *
 * @module
 */
import { Buffer } from "node:buffer";

export interface Attachment {
  readonly filename: string;
  readonly contentType: string;
  readonly content: Uint8Array;
  readonly contentId?: string;
}

export type AttachmentsResult =
  | { readonly ok: true; readonly attachments: readonly Attachment[]; readonly octets: number }
  | { readonly ok: false; readonly reason: string };

const MAX_ATTACHMENTS = 100;
const KEYS = new Set(["filename", "content_type", "content", "content_id"]);
// RFC 2045 §5.1: type "/" subtype, tokens.
const MIME_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// RFC 2392 content-id: an addr-spec-like token, without angle brackets or white space.
const CONTENT_ID = /^[\x21-\x3b\x3d\x3f-\x7e]{1,250}$/;
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
const UNSAFE_INLINE = new Set([
  "text/html",
  "application/xhtml+xml",
  "image/svg+xml",
  "application/javascript",
  "text/javascript",
  "application/ecmascript",
  "application/x-shockwave-flash",
]);

/** Checks and decodes `value` (null or undefined: no attachments). */
export function parseAttachments(value: unknown): AttachmentsResult {
  if (value === null || value === undefined) return { ok: true, attachments: [], octets: 0 };
  if (!Array.isArray(value)) return fail("attachments must be a JSON array");
  if (value.length > MAX_ATTACHMENTS) {
    return fail(`attachments: at most ${MAX_ATTACHMENTS}: current count is ${value.length}`);
  }
  const out: Attachment[] = [];
  let octets = 0;
  for (const [i, a] of value.entries()) {
    const where = `attachments[${i}]`;
    if (typeof a !== "object" || a === null || Array.isArray(a)) {
      return fail(`${where} must be an object`);
    }
    const unknown = Object.keys(a).filter((k) => !KEYS.has(k));
    if (unknown.length > 0) return fail(`${where} has unknown field(s): ${unknown.join(", ")}`);
    const { filename, content_type: type, content, content_id: cid } = a as Record<string, unknown>;
    if (typeof filename !== "string" || filename.trim() === "") {
      return fail(`${where}.filename is required`);
    }
    if (filename.length > 255 || CONTROL.test(filename) || /[\\/]/.test(filename)) {
      return fail(`${where}.filename must be a plain file name (no path, no control characters)`);
    }
    if (typeof type !== "string" || !MIME_TYPE.test(type)) {
      return fail(`${where}.content_type must be a MIME type like application/pdf`);
    }
    if (typeof content !== "string" || !BASE64.test(content)) {
      return fail(`${where}.content must be base64 (RFC 4648, no line breaks)`);
    }
    if (cid !== undefined && cid !== null) {
      if (typeof cid !== "string" || !CONTENT_ID.test(cid)) {
        return fail(`${where}.content_id must be a token like logo@shop.example (no <>)`);
      }
      if (UNSAFE_INLINE.has(type.toLowerCase())) {
        return fail(`${where}: ${type} cannot be inline (content_id): it could run script`);
      }
    }
    const bytes = new Uint8Array(Buffer.from(content, "base64"));
    octets += bytes.length;
    out.push({
      filename,
      contentType: type.toLowerCase(),
      content: bytes,
      ...(typeof cid === "string" ? { contentId: cid } : {}),
    });
  }
  return { ok: true, attachments: out, octets };
}

function fail(reason: string): AttachmentsResult {
  return { ok: false, reason };
}
