/**
 * A raw message (`raw_message`) made fit to send, as Postfix's cleanup(8) does for mail it
 * receives: `Bcc` and `Resent-Bcc` fields are removed (they name hidden recipients, RFC 5322
 * §3.6.3), and a missing `Date` or `Message-ID` is added (RFC 5322 §3.6 requires a Date; the
 * Message-ID is the row's stable one, so a retry sends the same id). And the checks that make a
 * raw message unfit at all: a header block that is not one, no `From`, a line longer than the 998
 * octets SMTP allows (RFC 5321 §4.5.3.1.6).
 *
 * Works on bytes with canonical line ends (canonical_lines.ts), header text read byte for byte.
 *
 * @module
 */
import { bodyStart, headerFields, headerText } from "./message_bytes.ts";
import { longestLine } from "./canonical_lines.ts";

/** RFC 5322 §3.6.8: a field name is printable US-ASCII except ':'. */
const FIELD = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:/;
const HIDDEN = new Set(["bcc", "resent-bcc"]);
export const MAX_LINE_OCTETS = 998;

/** Why `message` cannot be sent as it is, or undefined when it can. */
export function rawMessageProblem(message: Uint8Array): string | undefined {
  const head = headerText(message);
  const lines = head.split(/\r\n|\r|\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  if (lines[lines.length - 1] === "") lines.pop();
  if (lines.length === 0) return "raw_message has no header section";
  if (/^[ \t]/.test(lines[0]!)) return "raw_message starts with a folded line, not a header field";
  let from = 0;
  for (const [i, line] of lines.entries()) {
    if (/^[ \t]/.test(line)) continue;
    const m = FIELD.exec(line);
    if (!m) {
      return `raw_message header line ${i + 1} is not a header field (no "name:"): ` +
        JSON.stringify(line.slice(0, 60));
    }
    if (m[1]!.toLowerCase() === "from") from++;
  }
  if (from === 0) return "raw_message has no From header field";
  const longest = longestLine(message);
  if (longest > MAX_LINE_OCTETS) {
    return `raw_message has a line of ${longest} octets; SMTP allows at most ${MAX_LINE_OCTETS}`;
  }
  return undefined;
}

export interface RawCleanup {
  /** `<id@domain>`, added when the message has none. */
  readonly messageId: string;
  /** Added as `Date` when the message has none (the row's creation time). */
  readonly date: Date;
}

/** `message` without Bcc/Resent-Bcc and with Date and Message-ID; the same array if unchanged. */
export function cleanRawMessage(message: Uint8Array, add: RawCleanup): Uint8Array {
  const end = bodyStart(message);
  const fields = headerFields(headerText(message));
  const kept: string[] = [];
  let hasDate = false;
  let hasId = false;
  let dropped = false;
  for (const f of fields) {
    const name = FIELD.exec(f)?.[1]?.toLowerCase();
    if (name && HIDDEN.has(name)) {
      dropped = true;
      continue;
    }
    if (name === "date") hasDate = true;
    if (name === "message-id") hasId = true;
    kept.push(f);
  }
  if (!dropped && hasDate && hasId) return message;
  if (!hasDate) kept.push(`Date: ${rfc5322Date(add.date)}\r\n`);
  if (!hasId) kept.push(`Message-ID: ${add.messageId}\r\n`);
  const head = new Uint8Array(kept.join("").split("").map((c) => c.charCodeAt(0)));
  // The empty line that ends the header section, and the body, as they were.
  const blank = fieldsEnd(message, end);
  const rest = message.subarray(blank);
  const out = new Uint8Array(head.length + rest.length);
  out.set(head, 0);
  out.set(rest, head.length);
  return out;
}

/** Where the header fields end: the start of the empty line (or of the message's end). */
function fieldsEnd(message: Uint8Array, bodyAt: number): number {
  if (bodyAt >= message.length) {
    // No empty line: the whole message is header; a body separator is added after it.
    return message.length;
  }
  return message[bodyAt - 2] === 0x0d ? bodyAt - 2 : bodyAt - 1;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** RFC 5322 §3.3 date-time in UTC: `Fri, 04 Dec 2026 02:33:00 +0000`. */
export function rfc5322Date(d: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ` +
    `${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:` +
    `${two(d.getUTCSeconds())} +0000`;
}
