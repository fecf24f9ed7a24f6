/**
 * A POP3 client session (RFC 1939) over an injected stream, with CAPA (RFC 2449) and STLS
 * (RFC 2595). It knows nothing about bounces or databases: it speaks the protocol and returns
 * every server answer as a value.
 *
 * - A server's `-ERR` is a {@link Pop3Err} value; a command the client will not send (a
 *   password over plaintext) is a {@link Pop3Refused} value.
 * - A dead stream, a garbled reply or a deadline is an exception ({@link Pop3ClosedError},
 *   {@link Pop3ProtocolError}, {@link TimeoutError}); the session is closed when one is thrown.
 * - Every command has a deadline on the injected clock. When it passes, the stream is closed,
 *   which also fails the pending read, so nothing is left running.
 *
 * @module
 */
import { type Clock, TimeoutError, withTimeout } from "../../lib/clock.ts";
import { apopDigest, apopTimestamp } from "./apop.ts";
import { parseCapabilities, type Pop3Capabilities } from "./capabilities.ts";
import { Pop3ProtocolError, Pop3StateError } from "./errors.ts";
import { LineReader, type MultilineBody } from "./line_reader.ts";
import {
  errOf,
  parseStatusLine,
  type Pop3Refused,
  type Pop3Result,
  type StatusLine,
} from "./reply.ts";
import { type Pop3Trace, redactCommand } from "./trace.ts";
import type { Pop3Conn, StartTls } from "./transport.ts";
import { arg, linesOf, msgNumber, toNumber, writeAll } from "./wire.ts";

export interface Pop3ClientOptions {
  readonly clock: Clock;
  /** Upgrades the stream after `STLS`; without it `stls()` is refused. */
  readonly startTls?: StartTls;
  /** The stream is already encrypted (POP3 over TLS, port 995). */
  readonly tls?: boolean;
  /**
   * Sends `USER`/`PASS` over an unencrypted stream. Off by default: RFC 2595 §2.1 lets a client
   * refuse plaintext passwords without TLS, and a relay's mailbox password is worth protecting.
   */
  readonly allowPlaintextAuth?: boolean;
  /** Deadline for a single-line reply (and the greeting). Default 30 s. */
  readonly commandTimeoutMs?: number;
  /** Deadline for a whole multi-line reply (RETR, TOP, LIST, UIDL, CAPA). Default 5 min. */
  readonly transferTimeoutMs?: number;
  /** Longest status line accepted. Default 8 KiB (RFC 2449 §4 allows 512 octets). */
  readonly maxLineBytes?: number;
  /** Largest multi-line reply accepted. Default 64 MiB. */
  readonly maxMessageBytes?: number;
  readonly trace?: Pop3Trace;
}

/** `STAT`: messages in the maildrop and their total size in octets. */
export interface MaildropStat {
  readonly count: number;
  readonly size: number;
}

/** One line of `LIST`. */
export interface ListEntry {
  readonly n: number;
  readonly size: number;
}

/** One line of `UIDL`: a message number and its persistent unique id (RFC 1939 §7). */
export interface UidlEntry {
  readonly n: number;
  readonly uid: string;
}

/** Where the session is: RFC 1939 §3's AUTHORIZATION and TRANSACTION, or over. */
export type Pop3State = "authorization" | "transaction" | "closed";

type AuthResult = Pop3Result<void> | Pop3Refused;

const DEFAULT_COMMAND_MS = 30_000;
const DEFAULT_TRANSFER_MS = 300_000;
const DEFAULT_MAX_LINE = 8 * 1024;
const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;

export class Pop3Client {
  readonly #opts: Pop3ClientOptions;
  #conn: Pop3Conn;
  #reader: LineReader;
  #tls: boolean;
  #state: Pop3State = "authorization";
  #busy = false;
  #greeting = "";

  private constructor(conn: Pop3Conn, opts: Pop3ClientOptions) {
    this.#conn = conn;
    this.#opts = opts;
    this.#reader = new LineReader(conn);
    this.#tls = opts.tls ?? false;
  }

  /**
   * Reads the server greeting on a fresh stream. On `-ERR` (a busy or refusing server) the
   * stream is closed and the refusal returned.
   */
  static async greet(conn: Pop3Conn, opts: Pop3ClientOptions): Promise<Pop3Result<Pop3Client>> {
    const client = new Pop3Client(conn, opts);
    const reply = await client.#exchange("greeting", undefined, false);
    if (!reply.status.ok) {
      client.close();
      return errOf("greeting", reply.status);
    }
    client.#greeting = reply.status.text;
    return { kind: "ok", value: client, text: reply.status.text };
  }

  get state(): Pop3State {
    return this.#state;
  }

  /** Whether the stream is encrypted (implicit TLS, or after a successful STLS). */
  get tls(): boolean {
    return this.#tls;
  }

  /** The greeting text after `+OK`. */
  get greeting(): string {
    return this.#greeting;
  }

  /** The APOP timestamp from the greeting (RFC 1939 §7), if the server offered one. */
  get apopTimestamp(): string | undefined {
    return apopTimestamp(this.#greeting);
  }

  /** `CAPA` (RFC 2449 §5). Ask again after STLS: RFC 2595 §4 voids what was learnt before. */
  async capa(): Promise<Pop3Result<Pop3Capabilities>> {
    this.#require("authorization", "transaction");
    const reply = await this.#exchange("CAPA", "CAPA", true);
    if (!reply.status.ok) return errOf("CAPA", reply.status);
    return ok(parseCapabilities(linesOf(reply.body)), reply.status.text);
  }

  /** `STLS` then the TLS handshake (RFC 2595 §4). Only before authentication. */
  async stls(): Promise<Pop3Result<void> | Pop3Refused> {
    this.#require("authorization");
    const startTls = this.#opts.startTls;
    if (this.#tls) return refused("STLS", "the connection is already encrypted");
    if (!startTls) return refused("STLS", "no TLS upgrade was configured for this connection");
    const reply = await this.#exchange("STLS", "STLS", false);
    if (!reply.status.ok) return errOf("STLS", reply.status);
    // The old stream is handed over to the TLS layer, so closing it cannot cut a stalled
    // upgrade short: race the deadline instead, and close a late upgraded stream on arrival.
    const upgrade = startTls(this.#conn);
    try {
      const secure = await withTimeout(
        this.#opts.clock,
        this.#commandMs,
        "TLS after STLS",
        () => upgrade,
      );
      this.#conn = secure;
      this.#reader.replaceConn(secure, "STLS");
    } catch (err) {
      upgrade.then((late) => late.close(), () => undefined);
      this.close();
      throw err;
    }
    this.#tls = true;
    this.#trace("info", "TLS established");
    return ok(undefined, reply.status.text);
  }

  /** `USER` then `PASS` (RFC 1939 §7). Refused without TLS unless plaintext auth is allowed. */
  async login(user: string, password: string): Promise<AuthResult> {
    this.#require("authorization");
    if (!this.#tls && !this.#opts.allowPlaintextAuth) {
      return refused("USER", "the connection is not encrypted and plaintext auth is not allowed");
    }
    const u = await this.#exchange("USER", `USER ${arg(user, "USER")}`, false);
    if (!u.status.ok) return errOf("USER", u.status);
    const p = await this.#exchange("PASS", `PASS ${arg(password, "PASS")}`, false);
    if (!p.status.ok) return errOf("PASS", p.status);
    this.#state = "transaction";
    return ok(undefined, p.status.text);
  }

  /**
   * `APOP name digest` (RFC 1939 §7). Allowed without TLS, since the secret itself is not sent;
   * refused when the greeting carried no timestamp.
   */
  async apop(user: string, secret: string): Promise<AuthResult> {
    this.#require("authorization");
    const timestamp = this.apopTimestamp;
    if (timestamp === undefined) {
      return refused("APOP", "the server greeting carries no APOP timestamp");
    }
    const line = `APOP ${arg(user, "APOP")} ${apopDigest(timestamp, secret)}`;
    const reply = await this.#exchange("APOP", line, false);
    if (!reply.status.ok) return errOf("APOP", reply.status);
    this.#state = "transaction";
    return ok(undefined, reply.status.text);
  }

  async stat(): Promise<Pop3Result<MaildropStat>> {
    this.#require("transaction");
    const reply = await this.#exchange("STAT", "STAT", false);
    if (!reply.status.ok) return errOf("STAT", reply.status);
    const [count, size] = reply.status.text.trim().split(/\s+/);
    return ok(
      { count: toNumber(count ?? "", "STAT"), size: toNumber(size ?? "", "STAT") },
      reply.status.text,
    );
  }

  /** `LIST`, or `LIST n` when `n` is given (one entry). Deleted messages are not listed. */
  async list(n?: number): Promise<Pop3Result<ListEntry[]>> {
    const rows = await this.#scanListing("LIST", n);
    if (rows.kind === "err") return rows;
    const entries = rows.value.map(([num, size]) => ({
      n: toNumber(num, "LIST"),
      size: toNumber(size, "LIST"),
    }));
    return ok(entries, rows.text);
  }

  /** `UIDL`, or `UIDL n` when `n` is given (one entry). */
  async uidl(n?: number): Promise<Pop3Result<UidlEntry[]>> {
    const rows = await this.#scanListing("UIDL", n);
    if (rows.kind === "err") return rows;
    const entries = rows.value.map(([num, uid]) => {
      // RFC 1939 §7: 1 to 70 characters in the range 0x21 to 0x7E.
      if (!/^[\x21-\x7e]{1,70}$/.test(uid)) {
        throw new Pop3ProtocolError(
          `Cannot use UIDL as the unique id '${uid}' is malformed`,
          "UIDL",
        );
      }
      return { n: toNumber(num, "UIDL"), uid };
    });
    return ok(entries, rows.text);
  }

  /** `RETR n`: the whole message, dot-unstuffed, with CRLF line ends. */
  async retr(n: number): Promise<Pop3Result<Uint8Array>> {
    this.#require("transaction");
    const reply = await this.#exchange("RETR", `RETR ${msgNumber(n)}`, true);
    if (!reply.status.ok) return errOf("RETR", reply.status);
    return ok(reply.body!.bytes, reply.status.text);
  }

  /** `TOP n lines`: the header and the first `lines` lines of the body. */
  async top(n: number, lines: number): Promise<Pop3Result<Uint8Array>> {
    this.#require("transaction");
    if (!Number.isSafeInteger(lines) || lines < 0) {
      throw new RangeError(`Cannot send TOP as 'lines' must be >= 0: current value is ${lines}`);
    }
    const reply = await this.#exchange("TOP", `TOP ${msgNumber(n)} ${lines}`, true);
    if (!reply.status.ok) return errOf("TOP", reply.status);
    return ok(reply.body!.bytes, reply.status.text);
  }

  /** `DELE n`: marks for deletion; the server removes it only after a successful `QUIT`. */
  dele(n: number): Promise<Pop3Result<void>> {
    return this.#simple("DELE", `DELE ${msgNumber(n)}`);
  }

  /** `RSET`: unmarks every message marked for deletion in this session. */
  rset(): Promise<Pop3Result<void>> {
    return this.#simple("RSET", "RSET");
  }

  noop(): Promise<Pop3Result<void>> {
    return this.#simple("NOOP", "NOOP");
  }

  /**
   * `QUIT`, then closes the stream. In TRANSACTION state this commits the deletions (RFC 1939
   * §6, UPDATE state); `-ERR` means some of them failed.
   */
  async quit(): Promise<Pop3Result<void>> {
    this.#require("authorization", "transaction");
    try {
      const reply = await this.#exchange("QUIT", "QUIT", false);
      return reply.status.ok ? ok(undefined, reply.status.text) : errOf("QUIT", reply.status);
    } finally {
      this.close();
    }
  }

  /**
   * Drops the stream without `QUIT`. The server then deletes nothing (RFC 1939 §6): this is how a
   * crash looks to it. Idempotent.
   */
  close(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer or by a failed TLS upgrade: nothing left to release.
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #simple(verb: string, line: string): Promise<Pop3Result<void>> {
    this.#require("transaction");
    const reply = await this.#exchange(verb, line, false);
    return reply.status.ok ? ok(undefined, reply.status.text) : errOf(verb, reply.status);
  }

  /** LIST/UIDL: multi-line without an argument, single-line `+OK n value` with one. */
  async #scanListing(verb: string, n?: number): Promise<Pop3Result<[string, string][]>> {
    this.#require("transaction");
    const line = n === undefined ? verb : `${verb} ${msgNumber(n)}`;
    const reply = await this.#exchange(verb, line, n === undefined);
    if (!reply.status.ok) return errOf(verb, reply.status);
    const lines = n === undefined ? linesOf(reply.body) : [reply.status.text];
    const rows = lines.filter((l) => l.trim() !== "").map((l): [string, string] => {
      const [num, value] = l.trim().split(/\s+/);
      if (num === undefined || value === undefined) {
        throw new Pop3ProtocolError(`Cannot use ${verb} as the line '${l}' is malformed`, verb);
      }
      return [num, value];
    });
    return ok(rows, reply.status.text);
  }

  /** Sends one command (none for the greeting) and reads its reply, under a deadline. */
  async #exchange(
    verb: string,
    line: string | undefined,
    multiline: boolean,
  ): Promise<{ status: StatusLine; body?: MultilineBody }> {
    if (this.#busy) {
      throw new Pop3StateError(`Cannot send ${verb} as another command is in flight`, this.#state);
    }
    this.#busy = true;
    try {
      const ms = multiline ? this.#opts.transferTimeoutMs ?? DEFAULT_TRANSFER_MS : this.#commandMs;
      return await this.#timed(ms, `the POP3 ${verb} reply`, async () => {
        if (line !== undefined) {
          this.#trace("client", redactCommand(line));
          await writeAll(this.#conn, new TextEncoder().encode(`${line}\r\n`), verb);
        }
        const text = await this.#reader.readLine(this.#maxLine, verb);
        this.#trace("server", text);
        const status = parseStatusLine(text);
        if (!status) {
          throw new Pop3ProtocolError(
            `Cannot use the ${verb} reply as it must start with +OK or -ERR: got '${
              text.slice(0, 80)
            }'`,
            verb,
          );
        }
        if (!status.ok || !multiline) return { status };
        const body = await this.#reader.readMultiline(this.#maxMessage, verb);
        this.#trace("server", `[${body.lines} lines, ${body.bytes.length} bytes]`);
        return { status, body };
      });
    } catch (err) {
      this.close();
      throw err;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Runs `work` with a deadline on the injected clock. When it passes, the stream is closed so
   * the pending read fails; we wait for that, then report the timeout. No read outlives the call.
   */
  async #timed<T>(ms: number, what: string, work: () => Promise<T>): Promise<T> {
    const stop = new AbortController();
    let expired = false;
    const deadline = this.#opts.clock.sleep(ms, stop.signal).then(
      () => {
        expired = true;
        this.close();
      },
      () => undefined,
    );
    try {
      return await work();
    } catch (err) {
      if (expired) throw new TimeoutError(what, ms);
      throw err;
    } finally {
      stop.abort();
      await deadline;
    }
  }

  #require(...states: Pop3State[]): void {
    if (!states.includes(this.#state)) {
      throw new Pop3StateError(
        `Cannot run this command as the session must be in ${states.join(" or ")} state: ` +
          `current state is ${this.#state}`,
        this.#state,
      );
    }
  }

  #trace(direction: "client" | "server" | "info", line: string): void {
    this.#opts.trace?.({ direction, line });
  }

  get #commandMs(): number {
    return this.#opts.commandTimeoutMs ?? DEFAULT_COMMAND_MS;
  }

  get #maxLine(): number {
    return this.#opts.maxLineBytes ?? DEFAULT_MAX_LINE;
  }

  get #maxMessage(): number {
    return this.#opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
  }
}

function ok<T>(value: T, text: string): Pop3Result<T> {
  return { kind: "ok", value, text };
}

function refused(command: string, reason: string): Pop3Refused {
  return { kind: "refused", command, reason };
}
