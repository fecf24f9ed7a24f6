/**
 * The response side of a minimal HTTP/1.1 client (RFC 9112): the status line and header
 * fields, then a body framed by Content-Length, chunked coding, or the connection's end. Strict
 * where leniency would blur framing: folded header lines, several Content-Length fields, or
 * Transfer-Encoding together with Content-Length are refused.
 *
 * @module
 */
import { ByteReader, ReadError } from "./byte_reader.ts";

export interface ResponseHead {
  readonly status: number;
  /** Field names lower-cased; a name given twice keeps both values in order. */
  readonly headers: ReadonlyMap<string, readonly string[]>;
}

const CRLF = new TextEncoder().encode("\r\n");
const HEAD_END = new TextEncoder().encode("\r\n\r\n");
const MAX_HEAD = 16 * 1024;
const MAX_CHUNK_LINE = 1024;
const LATIN1 = new TextDecoder("latin1");
const STATUS_LINE = /^HTTP\/1\.[01] ([1-9][0-9]{2})(?: [\t\x20-\x7e\x80-\xff]*)?$/;
const FIELD = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;

/** Reads the status line and header fields. */
export async function readHead(reader: ByteReader): Promise<ResponseHead> {
  const lines = LATIN1.decode(await reader.readUntil(HEAD_END, MAX_HEAD, "response head"))
    .split("\r\n");
  const status = STATUS_LINE.exec(lines[0]!);
  if (!status) throw new ReadError(`the status line ${JSON.stringify(lines[0])} is not HTTP/1.x`);
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const field = FIELD.exec(line);
    if (!field) throw new ReadError(`the header line ${JSON.stringify(line)} is malformed`);
    const name = field[1]!.toLowerCase();
    headers.set(name, [...headers.get(name) ?? [], field[2]!]);
  }
  return { status: Number(status[1]), headers };
}

/** Reads the body that follows `head`, refusing one over `max` octets before reading it all. */
export async function readBody(
  reader: ByteReader,
  head: ResponseHead,
  max: number,
): Promise<Uint8Array> {
  const coding = head.headers.get("transfer-encoding");
  const length = head.headers.get("content-length");
  if (coding && length) {
    throw new ReadError("the response has Transfer-Encoding and Content-Length");
  }
  if (coding) {
    if (coding.length !== 1 || coding[0]!.toLowerCase() !== "chunked") {
      throw new ReadError(`Transfer-Encoding ${JSON.stringify(coding.join(", "))} is not chunked`);
    }
    return await readChunked(reader, max);
  }
  if (length) {
    if (length.length !== 1 || !/^[0-9]{1,15}$/.test(length[0]!)) {
      throw new ReadError(`Content-Length ${JSON.stringify(length.join(", "))} is not one number`);
    }
    const n = Number(length[0]);
    if (n > max) throw new ReadError(`the body of ${n} octets is over ${max}`);
    return await reader.readExactly(n, "body");
  }
  return await reader.readToEnd(max, "body");
}

/** Chunked coding (RFC 9112 §7.1); extensions and trailer fields are read and dropped. */
async function readChunked(reader: ByteReader, max: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const line = LATIN1.decode(await reader.readUntil(CRLF, MAX_CHUNK_LINE, "chunk size line"));
    const size = /^([0-9A-Fa-f]{1,8})[ \t]*(?:;.*)?$/.exec(line);
    if (!size) throw new ReadError(`the chunk size line ${JSON.stringify(line)} is malformed`);
    const n = parseInt(size[1]!, 16);
    if (n === 0) break;
    total += n;
    if (total > max) throw new ReadError(`the body is over ${max} octets`);
    parts.push(await reader.readExactly(n, "chunk"));
    if ((await reader.readExactly(2, "chunk end")).some((b, i) => b !== CRLF[i])) {
      throw new ReadError("a chunk does not end with CRLF");
    }
  }
  for (let trailer = 0;; trailer++) {
    const line = await reader.readUntil(CRLF, MAX_CHUNK_LINE, "trailer field");
    if (line.length === 0) break;
    if (trailer >= 32) throw new ReadError("the response has over 32 trailer fields");
  }
  const body = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    body.set(part, at);
    at += part.length;
  }
  return body;
}
