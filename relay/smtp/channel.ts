/**
 * The byte channel under a session: reads whole replies and writes command lines and data, each
 * within its phase's timeout on the injected clock, and feeds the transcript hook.
 *
 * Every failure (timeout, reset, end of stream, garbage) closes the stream, so a pending read or
 * write ends and nothing leaks, and surfaces as a {@link SessionBrokenError}. Deadlines run on
 * one reusable timer (see {@link ./watchdog.ts}); the session calls {@link Channel.idle} after
 * each of its operations so that an idle connection holds no timer.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import type { ByteStream } from "../tls/mod.ts";
import { MAX_REPLY_LINE, type Reply, ReplyAssembler } from "./reply.ts";
import {
  closedByPeer,
  closedLocally,
  ioFailed,
  protocolError,
  SessionBrokenError,
} from "./session_error.ts";
import type { Phase, SmtpTimeouts } from "./timeouts.ts";
import type { TraceHook } from "./trace.ts";
import { writeChunks } from "./data_writer.ts";
import { CLOSED, Watchdog } from "./watchdog.ts";

const LF = 0x0a;
/**
 * The read buffer starts small (a greeting, an EHLO reply) and grows, up to 4 lines of the
 * longest reply line, only for a peer that sends more at once: thousands of open sessions to
 * different destinations should not each hold 16 KB they never use.
 */
const BUFFER_MIN = 1024;
const BUFFER_MAX = 4 * MAX_REPLY_LINE;
const encoder = new TextEncoder();

/** Reads replies and writes commands on one stream. */
export class Channel {
  #stream: ByteStream;
  readonly #clock: Clock;
  readonly #timeouts: SmtpTimeouts;
  readonly #trace: TraceHook | undefined;
  readonly #decoder = new TextDecoder();
  #buf = new Uint8Array(BUFFER_MIN);
  #start = 0;
  #end = 0;
  #assembler = new ReplyAssembler();
  #closed = false;
  readonly #watchdog: Watchdog;

  constructor(stream: ByteStream, clock: Clock, timeouts: SmtpTimeouts, trace?: TraceHook) {
    this.#stream = stream;
    this.#clock = clock;
    this.#timeouts = timeouts;
    this.#trace = trace;
    this.#watchdog = new Watchdog(clock, Math.min(...Object.values(timeouts)));
  }

  get clock(): Clock {
    return this.#clock;
  }

  get timeouts(): SmtpTimeouts {
    return this.#timeouts;
  }

  /** Whether the stream was closed (by us, after a failure, or by QUIT). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes received but not yet consumed as a reply. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** The current stream, e.g. to hand it to a TLS upgrade. */
  get stream(): ByteStream {
    return this.#stream;
  }

  /** Swaps in the TLS stream after STARTTLS (RFC 3207 §4.2: nothing from before carries over). */
  replaceStream(stream: ByteStream): void {
    this.#stream = stream;
    this.#start = this.#end = 0;
    this.#assembler = new ReplyAssembler();
  }

  /** Reads one complete reply within the phase's timeout. */
  async readReply(phase: Phase): Promise<Reply> {
    let ready: Reply | undefined;
    try {
      ready = this.#assembleBuffered(phase);
    } catch (err) {
      this.close();
      throw err;
    }
    if (ready) return ready;
    return await this.#guard(phase, async () => {
      for (;;) {
        await this.#fill(phase);
        const reply = this.#assembleBuffered(phase);
        if (reply) return reply;
      }
    });
  }

  /** Writes command lines (CRLF added) in one write, tracing `traced` in their place if given. */
  async writeLines(
    phase: Phase,
    lines: readonly string[],
    traced?: readonly string[],
  ): Promise<void> {
    for (const line of traced ?? lines) this.#emit("out", line);
    await this.writeBytes(phase, encoder.encode(lines.map((l) => l + "\r\n").join("")));
  }

  /**
   * Writes command lines (CRLF added) followed by `content` (a BDAT chunk, RFC 3030), gathered
   * into as few writes as {@link writeChunks} makes: one for a message of a few KiB.
   */
  async writeLinesWithContent(
    phase: Phase,
    lines: readonly string[],
    content: Uint8Array,
  ): Promise<void> {
    for (const line of lines) this.#emit("out", line);
    this.#emit("note", `message content: ${content.length} octets in the chunk`);
    const head = encoder.encode(lines.map((l) => l + "\r\n").join(""));
    await writeChunks(
      [head, content],
      (block) => this.writeBytes(phase, block),
      head.length + content.length,
    );
  }

  /** Writes all of `bytes` within the phase's timeout. */
  async writeBytes(phase: Phase, bytes: Uint8Array): Promise<void> {
    await this.#guard(phase, async () => {
      for (let off = 0; off < bytes.length;) {
        off += await this.#stream.write(bytes.subarray(off));
        if (this.#closed) throw closedByPeer(phase);
      }
    });
  }

  /** Nothing is in flight until the next read or write: stops the deadline timer meanwhile. */
  idle(): void {
    this.#watchdog.stop();
  }

  /** Adds a remark of Ferry's own to the transcript. */
  note(text: string): void {
    this.#emit("note", text);
  }

  /** Closes the stream; safe to call more than once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchdog.close();
    try {
      this.#stream.close();
    } catch {
      // Already closed by the peer or by a failed TLS upgrade.
    }
  }

  /**
   * Runs `work` within the phase's timeout and turns every way it can fail into a
   * SessionBrokenError, closing the stream first. A timeout rejects at once; closing the stream
   * then ends the pending read or write, whose own failure nobody awaits any more.
   */
  async #guard<T>(phase: Phase, work: () => Promise<T>): Promise<T> {
    if (this.#closed) throw closedByPeer(phase);
    const deadline = this.#watchdog.arm(phase, this.#timeouts[phase]);
    try {
      return await Promise.race([work(), this.#watchdog.expired]);
    } catch (err) {
      this.close();
      if (err instanceof SessionBrokenError) throw err;
      // Another operation failed and closed the channel while this one was pending.
      if (err === CLOSED) throw closedLocally(phase);
      throw ioFailed(phase, err);
    } finally {
      this.#watchdog.disarm(deadline);
    }
  }

  async #fill(phase: Phase): Promise<void> {
    if (this.#start > 0 && this.#end === this.#buf.length) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.#buf.length && this.#buf.length < BUFFER_MAX) {
      const grown = new Uint8Array(Math.min(BUFFER_MAX, this.#buf.length * 2));
      grown.set(this.#buf.subarray(0, this.#end));
      this.#buf = grown;
    }
    const n = await this.#stream.read(this.#buf.subarray(this.#end));
    // Timed out (or closed by a concurrent failure) meanwhile: the bytes belong to nobody.
    if (this.#closed) throw closedByPeer(phase);
    if (n === null) throw closedByPeer(phase);
    this.#end += n;
  }

  /**
   * Feeds complete buffered lines to the assembler; returns a reply once one is complete. Throws
   * on garbage without closing: the caller closes, after its own error has won any race with
   * the rejection that closing gives to concurrent operations.
   */
  #assembleBuffered(phase: Phase): Reply | undefined {
    for (;;) {
      const lf = this.#buf.subarray(this.#start, this.#end).indexOf(LF);
      if (lf < 0) {
        if (this.#end - this.#start > MAX_REPLY_LINE + 2) {
          throw protocolError(phase, "a reply line has no end", this.#peek());
        }
        if (this.#start === this.#end) this.#start = this.#end = 0;
        return undefined;
      }
      // Tolerate a bare LF as line end when reading (RFC 5321 §2.3.8 asks for CRLF, but
      // being strict here protects nothing: replies are never forwarded).
      const stop = lf > 0 && this.#buf[this.#start + lf - 1] === 0x0d ? lf - 1 : lf;
      const line = this.#decoder.decode(this.#buf.subarray(this.#start, this.#start + stop));
      this.#start += lf + 1;
      this.#emit("in", line);
      const step = this.#assembler.add(line);
      if (step.kind === "reply") return step.reply;
      if (step.kind === "garbage") throw protocolError(phase, step.reason, step.line);
    }
  }

  #peek(): string {
    return this.#decoder.decode(this.#buf.subarray(this.#start, this.#start + 80));
  }

  #emit(direction: "in" | "out" | "note", line: string): void {
    if (!this.#trace) return;
    try {
      this.#trace({ direction, line, at: this.#clock.now() });
    } catch {
      // A broken trace hook must not break delivery.
    }
  }
}
