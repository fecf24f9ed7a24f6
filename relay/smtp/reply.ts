/**
 * SMTP replies (RFC 5321 §4.2) and their enhanced status codes (RFC 3463, announced with
 * ENHANCEDSTATUSCODES, RFC 2034). Parsing is total: anything that is not a well-formed reply is
 * reported as garbage with a reason, never thrown, because a peer's bytes are untrusted input.
 *
 * @module
 */

/** One complete reply. */
export interface Reply {
  /** The three-digit reply code. */
  readonly code: number;
  /** The enhanced status code (`5.1.1`) from the first line, when there is a valid one. */
  readonly enhanced?: string;
  /** The text of each line, after `ddd-` / `ddd `, enhanced code included. */
  readonly lines: readonly string[];
}

/** The result of feeding one line to a {@link ReplyAssembler}. */
export type ReplyStep =
  | { readonly kind: "more" }
  | { readonly kind: "reply"; readonly reply: Reply }
  | { readonly kind: "garbage"; readonly reason: string; readonly line: string };

/** RFC 5321 §4.5.3.1.5 allows 512 octets per reply line; real peers exceed it, garbage more so. */
export const MAX_REPLY_LINE = 4096;
/** A reply with more lines than this is treated as a runaway peer. EHLO replies have ~20. */
export const MAX_REPLY_LINES = 128;

// Reply-code = %x32-35 %x30-35 %x30-39 (RFC 5321 §4.2); the separator is "-" (more lines
// follow), " " or nothing (last line).
const LINE = /^([2-5][0-9][0-9])(?:([ -])(.*))?$/s;
// RFC 3463 §2: class "." subject "." detail, subject and detail 1-3 digits.
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)/;

/**
 * Collects the lines of one reply. Every line must carry the same code (RFC 5321 §4.2.1); the
 * reply ends at the first line without a hyphen after the code.
 */
export class ReplyAssembler {
  #code = 0;
  #lines: string[] = [];

  /** Adds one line (without its CRLF). */
  add(line: string): ReplyStep {
    if (line.length > MAX_REPLY_LINE) {
      return garbage(`a reply line is longer than ${MAX_REPLY_LINE} characters`, line);
    }
    const m = LINE.exec(line);
    if (!m) return garbage("a reply line does not start with a 3-digit code from 200 to 599", line);
    const code = Number(m[1]);
    if (this.#lines.length > 0 && code !== this.#code) {
      return garbage(`a multi-line reply changed its code from ${this.#code} to ${code}`, line);
    }
    this.#code = code;
    this.#lines.push(m[3] ?? "");
    if (m[2] === "-") {
      return this.#lines.length >= MAX_REPLY_LINES
        ? garbage(`a reply has more than ${MAX_REPLY_LINES} lines`, line)
        : { kind: "more" };
    }
    const lines = this.#lines;
    this.#lines = [];
    return { kind: "reply", reply: makeReply(code, lines) };
  }
}

/** Builds a reply, picking up the enhanced status code of its first line. */
export function makeReply(code: number, lines: readonly string[]): Reply {
  const m = ENHANCED.exec(lines[0] ?? "");
  // RFC 3463 §2 / RFC 2034 §4: the class must agree with the first digit of the reply code.
  const enhanced = m && m[1] === String(code)[0] ? `${m[1]}.${m[2]}.${m[3]}` : undefined;
  return enhanced ? { code, enhanced, lines } : { code, lines };
}

/**
 * Parses a whole reply given as text (lines separated by CRLF or LF). For tests and tools; the
 * client reads line by line through a {@link ReplyAssembler}.
 */
export function parseReply(text: string): ReplyStep {
  const assembler = new ReplyAssembler();
  const lines = text.replace(/\r?\n$/, "").split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const step = assembler.add(lines[i]!);
    if (step.kind === "garbage") return step;
    if (step.kind === "reply") {
      return i === lines.length - 1
        ? step
        : garbage("text follows the last line of a reply", lines[i + 1]!);
    }
  }
  return garbage("the reply ends without a last line", lines[lines.length - 1] ?? "");
}

/** The human text: lines joined by newlines, without the enhanced code prefix of each line. */
export function replyText(reply: Reply): string {
  return reply.lines.map((l) => l.replace(ENHANCED, "").trimStart()).join("\n");
}

/** The reply as it was on the wire, lines joined by `\n` (suitable for `last_reply`). */
export function formatReply(reply: Reply): string {
  const last = reply.lines.length - 1;
  return reply.lines
    .map((text, i) => `${reply.code}${i === last ? " " : "-"}${text}`)
    .join("\n");
}

function garbage(reason: string, line: string): ReplyStep {
  return { kind: "garbage", reason, line: line.slice(0, 200) };
}
