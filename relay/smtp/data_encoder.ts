/**
 * The message body on the wire (RFC 5321 §4.1.1.4, §4.5.2), made immune to SMTP smuggling.
 *
 * - Every line ends in CRLF: a bare LF or a bare CR becomes CRLF (RFC 5321 §2.3.8 forbids sending
 *   them). Smuggling attacks (e.g. `\n.\n` or `\r\n.\r` read as end of data by a lenient
 *   receiver) need a bare CR or LF to reach the peer; none ever does.
 * - A line starting with "." gets a second "." (transparency, §4.5.2), so only the terminator
 *   is a lone ".".
 * - A final line without CRLF gets one before the terminator `.CRLF`.
 *
 * The encoder yields views into the caller's buffer wherever the input needs no change, so a
 * well-formed 20 MB message is written without being copied; only the inserted "." and CRLF and
 * short runs (see {@link ./data_writer.ts}) are copied.
 *
 * @module
 */

import { isAscii } from "node:buffer";

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF_BYTES = new Uint8Array([CR, LF]);
const DOT_BYTES = new Uint8Array([DOT]);
const TERMINATOR = new Uint8Array([DOT, CR, LF]);

/** RFC 5321 §4.5.3.1.6: 1000 octets per text line including CRLF, so 998 of content. */
export const MAX_LINE_LENGTH = 998;

/** What the client must know about a message before it commits to sending it. */
export interface MessageScan {
  /**
   * The size in octets after CRLF normalisation, before dot-stuffing: the value declared with
   * SIZE= (RFC 1870 §3).
   */
  readonly size: number;
  /** Some octet is >= 0x80, so the body needs 8BITMIME (RFC 6152). */
  readonly eightBit: boolean;
  /** Some octet in the header section is >= 0x80: UTF-8 headers need SMTPUTF8 (RFC 6532 §3). */
  readonly eightBitHeaders: boolean;
  /** The first line longer than {@link MAX_LINE_LENGTH} octets (1-based), if any. */
  readonly longLine?: { readonly line: number; readonly length: number };
  /**
   * Every line, the last included, ends in CRLF: the message goes into a BDAT chunk as it is,
   * with no copy to normalise it ({@link crlfContent}).
   */
  readonly canonical: boolean;
}

/**
 * Scans a message once: size, 8-bit content, and the first over-long line. 8-bit octets are
 * found with `isAscii` (native) over the header section and the body, not octet by octet.
 */
export function scanMessage(message: Uint8Array, maxLineLength = MAX_LINE_LENGTH): MessageScan {
  const n = message.length;
  let size = 0;
  let lineNo = 1;
  let headerEnd = n; // RFC 5322 §2.1: the header section ends at the first empty line.
  let longLine: { line: number; length: number } | undefined;
  let canonical = true;
  for (let pos = 0; pos < n; lineNo++) {
    const end = lineEnd(message, pos);
    const length = end - pos;
    if (length > maxLineLength && !longLine) longLine = { line: lineNo, length };
    if (length === 0 && headerEnd === n) headerEnd = pos;
    size += length + 2;
    if (message[end] === CR && message[end + 1] === LF) pos = end + 2;
    else {
      canonical = false;
      pos = end + 1;
    }
  }
  // Line breaks are ASCII, so checking whole ranges gives the same answer as checking lines.
  const eightBitHeaders = !isAscii(message.subarray(0, headerEnd));
  const eightBit = eightBitHeaders || !isAscii(message.subarray(headerEnd));
  return longLine
    ? { size, eightBit, eightBitHeaders, longLine, canonical }
    : { size, eightBit, eightBitHeaders, canonical };
}

/**
 * The message as a BDAT chunk carries it (RFC 3030 §2): the same octets DATA would deliver,
 * every line end CRLF and a final CRLF added, but no dot-stuffing and no terminator, since the
 * chunk is counted. `message` itself when `canonical` (from {@link scanMessage}) says so.
 */
export function crlfContent(message: Uint8Array, canonical: boolean): Uint8Array {
  if (canonical) return message;
  const out = new Uint8Array(message.length * 2 + 2);
  let o = 0;
  for (let pos = 0; pos < message.length;) {
    const end = lineEnd(message, pos);
    out.set(message.subarray(pos, end), o);
    o += end - pos;
    out[o++] = CR;
    out[o++] = LF;
    pos = message[end] === CR && message[end + 1] === LF ? end + 2 : end + 1;
  }
  return out.slice(0, o);
}

/**
 * Yields the DATA content of `message`: normalised, dot-stuffed and terminated by `.CRLF`.
 * Chunks are views of `message` or shared constants: consumers must not modify them.
 */
export function* encodeData(message: Uint8Array): Generator<Uint8Array, void, undefined> {
  const n = message.length;
  let pos = 0; // start of the current line
  let run = 0; // start of the bytes not yet yielded
  while (pos < n) {
    if (message[pos] === DOT) {
      if (pos > run) yield message.subarray(run, pos);
      yield DOT_BYTES;
      run = pos; // the original "." follows the inserted one
    }
    const end = lineEnd(message, pos);
    if (end === n) {
      yield message.subarray(run, n);
      yield CRLF_BYTES;
      run = pos = n;
    } else if (message[end] === CR && message[end + 1] === LF) {
      pos = end + 2;
    } else {
      // A bare CR or LF: the line ends here, with a proper CRLF instead.
      if (end > run) yield message.subarray(run, end);
      yield CRLF_BYTES;
      run = pos = end + 1;
    }
  }
  if (run < n) yield message.subarray(run, n);
  yield TERMINATOR;
}

/**
 * The position of the next CR or LF at or after `from`, or the message's length when there is
 * none. A plain loop: `indexOf` costs more per call than it saves on lines of typical length,
 * and would need one search for CR and one for LF.
 */
function lineEnd(message: Uint8Array, from: number): number {
  const n = message.length;
  let i = from;
  for (; i < n; i++) {
    const b = message[i]!;
    // CR (0x0d) and LF (0x0a) are below every printable octet: one comparison for most octets.
    if (b <= CR && (b === CR || b === LF)) break;
  }
  return i;
}
