/**
 * Buffered reading of POP3 replies from a byte stream: status lines, and multi-line bodies with
 * the termination octet removed.
 *
 * RFC 1939 §3: a multi-line reply ends with a line holding a single `.`; any other line that
 * starts with `.` was "byte-stuffed" by the server and loses that first `.`. Lines end in CRLF;
 * a bare LF is accepted too (some servers and maildir-backed stores leak it), and bodies are
 * returned with CRLF line ends, as RFC 5322 messages are defined.
 *
 * @module
 */
import { Pop3ClosedError, Pop3ProtocolError } from "./errors.ts";
import type { Pop3Conn } from "./transport.ts";

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF = new Uint8Array([CR, LF]);
const CHUNK = 16 * 1024;

/** A multi-line body and how many lines it held. */
export interface MultilineBody {
  readonly bytes: Uint8Array;
  readonly lines: number;
}

/** Reads lines out of a {@link Pop3Conn}, keeping what arrives past the current line. */
export class LineReader {
  #conn: Pop3Conn;
  #buf = new Uint8Array(CHUNK);
  #start = 0;
  #end = 0;

  constructor(conn: Pop3Conn) {
    this.#conn = conn;
  }

  /** Bytes received but not consumed yet. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * Switches to a new stream (after STLS). Refused while bytes are buffered: anything the server
   * sent after its `+OK` to STLS arrived in plaintext and must not be mistaken for TLS data
   * (the STARTTLS command-injection class of bugs, RFC 2595 §4).
   */
  replaceConn(conn: Pop3Conn, command: string): void {
    if (this.buffered > 0) {
      throw new Pop3ProtocolError(
        `Cannot start TLS as the server sent ${this.buffered} bytes after its STLS reply`,
        command,
      );
    }
    this.#conn = conn;
  }

  /** One line without its line end, decoded as UTF-8 (invalid bytes become U+FFFD). */
  async readLine(maxBytes: number, command: string): Promise<string> {
    const line = await this.#readLineBytes(maxBytes, command);
    return new TextDecoder().decode(line);
  }

  /**
   * A multi-line body after its status line: dot-unstuffed, CRLF line ends, without the final
   * `.` line. Fails once the body exceeds `maxBytes`, leaving the stream unusable.
   */
  async readMultiline(maxBytes: number, command: string): Promise<MultilineBody> {
    const tooLarge =
      `Cannot read the ${command} reply as it must be <= ${maxBytes} bytes: it is larger`;
    const parts: Uint8Array[] = [];
    let size = 0;
    let lines = 0;
    for (;;) {
      const line = await this.#readLineBytes(maxBytes - size, command, tooLarge);
      if (line.length === 1 && line[0] === DOT) break;
      const content = line[0] === DOT ? line.subarray(1) : line;
      size += content.length + 2;
      if (size > maxBytes) {
        throw new Pop3ProtocolError(tooLarge, command);
      }
      // Copy: the buffer is reused by later reads.
      parts.push(content.slice(), CRLF);
      lines++;
    }
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    return { bytes, lines };
  }

  async #readLineBytes(maxBytes: number, command: string, tooLong?: string): Promise<Uint8Array> {
    let scanFrom = this.#start;
    for (;;) {
      const lf = this.#buf.subarray(scanFrom, this.#end).indexOf(LF);
      if (lf >= 0) {
        const at = scanFrom + lf;
        const stop = at > this.#start && this.#buf[at - 1] === CR ? at - 1 : at;
        const line = this.#buf.subarray(this.#start, stop);
        this.#start = at + 1;
        return line;
      }
      if (this.buffered > maxBytes) {
        throw new Pop3ProtocolError(
          tooLong ??
            `Cannot read the ${command} reply as a line must be <= ${maxBytes} bytes: ` +
              `${this.buffered} bytes arrived without a line end`,
          command,
        );
      }
      scanFrom = this.#end;
      const shift = this.#start;
      await this.#fill(command);
      scanFrom -= shift;
    }
  }

  /** Reads more bytes, compacting or growing the buffer first. Moves `#start` to 0. */
  async #fill(command: string): Promise<void> {
    const pending = this.buffered;
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#start = 0;
      this.#end = pending;
    }
    if (this.#buf.length - this.#end < CHUNK / 2) {
      const grown = new Uint8Array(this.#buf.length * 2);
      grown.set(this.#buf.subarray(0, this.#end));
      this.#buf = grown;
    }
    let n: number | null;
    try {
      n = await this.#conn.read(this.#buf.subarray(this.#end));
    } catch (cause) {
      throw new Pop3ClosedError(
        `Cannot read the ${command} reply as the connection failed`,
        command,
        { cause },
      );
    }
    if (n === null) {
      throw new Pop3ClosedError(
        `Cannot read the ${command} reply as the server closed the connection`,
        command,
      );
    }
    this.#end += n;
  }
}
