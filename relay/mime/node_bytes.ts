/**
 * The bytes of a compiled nodemailer MimeNode tree, as `node.build()` gives them with
 * `newline: "\r\n"`.
 *
 * Most messages are a few text parts with string content: their bytes are put together here
 * directly, headers from the node's own `buildHeaders()` and bodies from nodemailer's own
 * quoted-printable and base64 encoders, in the order `MimeNode.stream()` writes them. Streaming the same
 * tree costs a PassThrough per part, a quoted-printable Transform, a `pipeline()` (which builds
 * and aborts an AbortController per part, a DOMException with a stack trace each time) and a
 * macrotask per step: about a tenth of the relay's CPU at 1,000 messages/s. Anything else
 * (stream, file or URL content, transforms, quoted-printable over 64 KiB) goes through
 * `stream()` itself.
 * Both give the same bytes (tests/relay/mime/node_bytes_test.ts compares them).
 *
 * @module
 */
import { PassThrough } from "node:stream";
import { Buffer } from "node:buffer";
import { encode as qpEncode, wrap as qpWrap } from "nodemailer/lib/qp/index.js";
import { encode as b64Encode, wrap as b64Wrap } from "nodemailer/lib/base64/index.js";

/** What is read of nodemailer's MimeNode (the root node MailComposer compiles, and its children). */
export interface MimeNodeLike {
  stream(out: PassThrough, options: object, done: (err?: Error | null) => void): void;
  getTransferEncoding(): string | false;
  buildHeaders(): string;
  readonly childNodes: readonly MimeNodeLike[];
  readonly multipart: string | false;
  readonly boundary: string | false;
  readonly contentType?: string;
  readonly content?: unknown;
  readonly _raw?: unknown;
  readonly _transforms: readonly unknown[];
  readonly _processFuncs: readonly unknown[];
}

/**
 * The quoted-printable Transform encodes in slices of this many octets; below it, encoding the
 * whole body at once gives the same text.
 */
const QP_WHOLE_LIMIT = 64 * 1024;

const encoder = new TextEncoder();

/** The node's message bytes, CRLF line ends, ending with a line end. */
export async function nodeBytes(node: MimeNodeLike): Promise<Uint8Array> {
  return directNodeBytes(node) ?? await streamedNodeBytes(node);
}

/** The same bytes put together without streams; undefined when some part needs the stream. */
export function directNodeBytes(node: MimeNodeLike): Uint8Array | undefined {
  const parts: string[] = [];
  return directly(node, parts) ? finish([encoder.encode(parts.join(""))]) : undefined;
}

/**
 * Appends what `stream()` writes for `node` to `out`; false when some part needs the stream.
 * Mirrors MimeNode.stream(): headers and a blank line, the content (quoted-printable or base64
 * as the node chose, as is for 7bit/8bit), then for a multipart node each child after its
 * boundary line and the closing boundary.
 */
function directly(node: MimeNodeLike, out: string[]): boolean {
  if (node._raw || node._transforms.length > 0 || node._processFuncs.length > 0) return false;
  const transferEncoding = node.getTransferEncoding();
  // Before the content, as stream() does: building the headers sets `contentType`.
  const headers = node.buildHeaders();
  const content = node.content;
  let body = "";
  if (content) {
    if (node.multipart) return false;
    const bytes = typeof content === "string"
      ? Buffer.from(content, "utf-8")
      : content instanceof Uint8Array
      ? Buffer.from(content.buffer, content.byteOffset, content.byteLength)
      : undefined;
    if (!bytes) return false; // a stream, a file, a URL
    if (transferEncoding === "quoted-printable") {
      // The stream encodes non-text parts in binary mode (a lone CR or LF stays data).
      if (!/^text\//i.test(node.contentType ?? "") || bytes.length >= QP_WHOLE_LIMIT) return false;
      body = quotedPrintable(bytes);
    } else if (transferEncoding === "base64") {
      // base64.Encoder gives wrap(encode(input), 76) however the input is split.
      body = b64Wrap(b64Encode(bytes), 76);
    } else if (typeof content === "string") {
      body = content;
    } else return false;
  }
  out.push(headers + "\r\n\r\n", body);
  if (!node.multipart) return true;
  for (const [i, child] of node.childNodes.entries()) {
    out.push((i > 0 ? "\r\n" : "") + "--" + node.boundary + "\r\n");
    if (!directly(child, out)) return false;
  }
  out.push("\r\n--" + node.boundary + "--\r\n");
  return true;
}

/**
 * What qp.Encoder gives for `bytes` in one chunk (text mode): it holds back the white space the
 * input ends with until its flush, and wraps the line it has kept together with that tail, so
 * the soft line breaks near the end differ from one `wrap(encode(bytes))` over the whole.
 */
function quotedPrintable(bytes: Buffer): string {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x20 || bytes[end - 1] === 0x09)) end--;
  const head = end > 0 ? qpWrap(qpEncode(bytes.subarray(0, end)), 76) : "";
  if (end === bytes.length) return head;
  const lastLf = head.lastIndexOf("\n");
  const kept = head.substring(lastLf + 1);
  return head.substring(0, lastLf + 1) + qpWrap(kept + qpEncode(bytes.subarray(end)), 76);
}

/**
 * The same bytes through `node.stream()`, without build()'s stream plumbing (createReadStream()
 * adds a last-newline and a newline transform with two more `pipeline()`s; the two line-end
 * rules are applied below instead).
 */
export async function streamedNodeBytes(node: MimeNodeLike): Promise<Uint8Array> {
  const out = new PassThrough();
  const chunks: Uint8Array[] = [];
  out.on("data", (chunk: Uint8Array) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    out.once("end", resolve);
    out.once("error", reject);
  });
  try {
    await new Promise<void>((resolve, reject) =>
      node.stream(out, {}, (err) => (err ? reject(err) : resolve()))
    );
  } catch (err) {
    out.destroy();
    throw err;
  }
  out.end();
  await ended;
  return finish(chunks);
}

/** Joins the chunks, ends them with a line end (last-newline.js) and makes every LF a CRLF. */
function finish(chunks: readonly Uint8Array[]): Uint8Array {
  const last = chunks.findLast((c) => c.length > 0);
  const lastByte = last?.[last.length - 1];
  const tail = lastByte === 0x0a ? [] : lastByte === 0x0d ? [0x0a] : [0x0d, 0x0a];
  const size = chunks.reduce((n, c) => n + c.length, 0);
  const whole = new Uint8Array(size + tail.length);
  let at = 0;
  for (const c of chunks) {
    whole.set(c, at);
    at += c.length;
  }
  whole.set(tail, at);
  return crlfLineEnds(whole);
}

/**
 * Every LF not preceded by CR becomes CRLF, as nodemailer's `newline: "\r\n"` transform does
 * (le-windows.js); the same buffer when there is none.
 */
export function crlfLineEnds(bytes: Uint8Array): Uint8Array {
  let bare = 0;
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) {
    if (i === 0 || bytes[i - 1] !== 0x0d) bare++;
  }
  if (bare === 0) return bytes;
  const out = new Uint8Array(bytes.length + bare);
  let from = 0;
  let o = 0;
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) {
    if (i > 0 && bytes[i - 1] === 0x0d) continue;
    out.set(bytes.subarray(from, i), o);
    o += i - from;
    out[o++] = 0x0d;
    out[o++] = 0x0a;
    from = i + 1;
  }
  out.set(bytes.subarray(from), o);
  return out;
}
