/**
 * A scripted SMTP peer on `Deno.listen` (127.0.0.1, free port) for the misbehaviour that npm
 * smtp-server cannot express: refusing EHLO or DATA, garbage, silence, hanging up mid-DATA,
 * injecting bytes after 220 to STARTTLS, answering DATA with 354 after every RCPT failed...
 *
 * Each accepted connection runs the test's script. {@link esmtp} is a well-behaved default
 * script whose replies can be overridden stage by stage.
 *
 * @module
 */

const CRLF = "\r\n";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One client connection, seen from the peer. */
export class PeerLink {
  readonly #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  #closed = false;
  /** Every command line read on this link, in order. */
  readonly lines: string[] = [];

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Writes text as is (no CRLF added). */
  async send(text: string): Promise<void> {
    await this.sendBytes(encoder.encode(text));
  }

  /** Writes reply lines, each followed by CRLF. */
  async reply(...lines: string[]): Promise<void> {
    await this.send(lines.map((l) => l + CRLF).join(""));
  }

  /** Writes bytes as is. */
  async sendBytes(bytes: Uint8Array): Promise<void> {
    for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
  }

  /** Reads one line without its CRLF; `null` once the client hung up. */
  async readLine(): Promise<string | null> {
    const bytes = await this.#readUntil(encoder.encode(CRLF));
    if (bytes === null) return null;
    const line = decoder.decode(bytes);
    this.lines.push(line);
    return line;
  }

  /**
   * Reads DATA content up to the terminating CRLF.CRLF and undoes dot-stuffing; the result
   * ends with the last line's CRLF. `null` when the client hung up first. Bare CR or LF in the
   * content are kept as received, so a test can see whether any arrived.
   */
  async readData(): Promise<Uint8Array | null> {
    // The content follows DATA's 354, so it starts at a line start: "\r\n" makes the first line
    // look like every other one to the search for "\r\n.\r\n".
    const raw = await this.#readUntil(encoder.encode("\r\n.\r\n"), encoder.encode(CRLF));
    if (raw === null) return null;
    // The mark's leading CRLF ends the last line: give it back (none for an empty message).
    return raw.length === 0 ? raw : unstuff(concat(raw.subarray(2), encoder.encode(CRLF)));
  }

  /** Reads exactly what is available next (for tests that read a part of DATA, then hang up). */
  async readSome(): Promise<Uint8Array | null> {
    if (this.#buf.length > 0) {
      const out = this.#buf;
      this.#buf = new Uint8Array(0);
      return out;
    }
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.#read(chunk);
    return n === null ? null : chunk.subarray(0, n);
  }

  /** Closes the connection (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Reads until `mark`; returns `prefix` + the bytes before the mark. */
  async #readUntil(mark: Uint8Array, prefix = new Uint8Array(0)): Promise<Uint8Array | null> {
    let data = concat(prefix, this.#buf);
    let from = 0;
    for (let turns = 0; turns < 1_000_000; turns++) {
      const at = indexOf(data, mark, from);
      if (at >= 0) {
        this.#buf = data.slice(at + mark.length);
        return data.subarray(0, at);
      }
      from = Math.max(0, data.length - mark.length + 1);
      const chunk = new Uint8Array(256 * 1024);
      const n = await this.#read(chunk);
      if (n === null) return null;
      data = concat(data, chunk.subarray(0, n));
    }
    throw new Error("Cannot read from the SMTP client as no end mark arrived within the bound");
  }

  async #read(chunk: Uint8Array): Promise<number | null> {
    if (this.#closed) return null;
    try {
      return await this.#conn.read(chunk);
    } catch (err) {
      if (isDisconnect(err)) return null;
      throw err;
    }
  }
}

/** A script run for each connection. */
export type Script = (link: PeerLink, index: number) => Promise<void>;

/** A running scripted peer. */
export interface ScriptedPeer extends AsyncDisposable {
  readonly hostname: string;
  readonly port: number;
  /** Every link accepted so far. */
  readonly links: readonly PeerLink[];
  /** Stops listening, closes every link, waits for the scripts; rethrows a script's error. */
  close(): Promise<void>;
}

/** Starts a scripted peer on 127.0.0.1 and a free port. */
export function startScriptedPeer(script: Script): ScriptedPeer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const links: PeerLink[] = [];
  const runs: Promise<void>[] = [];
  const errors: unknown[] = [];
  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return; // listener closed
      }
      (conn as Deno.TcpConn).setNoDelay(true);
      const link = new PeerLink(conn);
      const index = links.length;
      links.push(link);
      runs.push(
        script(link, index).catch((err) => {
          if (!isDisconnect(err)) errors.push(err);
        }).finally(() => link.close()),
      );
    }
  })();
  const close = async () => {
    try {
      listener.close();
    } catch {
      // Already closed.
    }
    await accepting;
    for (const link of links) link.close();
    await Promise.all(runs);
    if (errors.length > 0) throw errors[0];
  };
  return {
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
    links,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Replies of the default script; a function gets the command line. */
export interface EsmtpReplies {
  greeting?: string;
  ehlo?: string | readonly string[];
  helo?: string;
  mail?: string | ((line: string) => string);
  rcpt?: string | ((line: string) => string);
  data?: string;
  end?: string | ((content: Uint8Array) => string);
  rset?: string;
  /** The reply to STARTTLS, or a function that takes over the link from there. */
  starttls?: string | ((link: PeerLink) => Promise<void>);
  /** Called with each message's content (dot-stuffing undone). */
  onMessage?: (content: Uint8Array) => void;
}

/** The capabilities the default EHLO reply announces. */
export const DEFAULT_EHLO = [
  "250-peer.test greets you",
  "250-PIPELINING",
  "250-SIZE 1000000",
  "250-8BITMIME",
  "250-SMTPUTF8",
  "250 ENHANCEDSTATUSCODES",
];

/** A well-behaved ESMTP conversation, with any stage's reply replaceable. */
export function esmtp(replies: EsmtpReplies = {}): Script {
  return async (link) => {
    await link.reply(replies.greeting ?? "220 peer.test ESMTP scripted");
    for (let turns = 0; turns < 10_000; turns++) {
      const line = await link.readLine();
      if (line === null) return;
      const verb = line.split(" ")[0]!.toUpperCase();
      if (verb === "EHLO") {
        const ehlo = replies.ehlo ?? DEFAULT_EHLO;
        await link.reply(...(typeof ehlo === "string" ? [ehlo] : ehlo));
      } else if (verb === "HELO") await link.reply(replies.helo ?? "250 peer.test");
      else if (verb === "MAIL") await link.reply(pick(replies.mail, line, "250 2.1.0 Ok"));
      else if (verb === "RCPT") await link.reply(pick(replies.rcpt, line, "250 2.1.5 Ok"));
      else if (verb === "RSET") await link.reply(replies.rset ?? "250 2.0.0 Ok");
      else if (verb === "STARTTLS") {
        if (typeof replies.starttls === "function") return await replies.starttls(link);
        await link.reply(replies.starttls ?? "454 4.7.0 TLS not available");
      } else if (verb === "NOOP") await link.reply("250 2.0.0 Ok");
      else if (verb === "QUIT") {
        await link.reply("221 2.0.0 Bye");
        return;
      } else if (verb === "DATA") {
        const data = replies.data ?? "354 End data with <CR><LF>.<CR><LF>";
        await link.reply(data);
        if (!data.startsWith("354")) continue;
        const content = await link.readData();
        if (content === null) return;
        replies.onMessage?.(content);
        const end = replies.end;
        await link.reply(
          typeof end === "function" ? end(content) : end ?? "250 2.0.0 Ok: queued as TEST1",
        );
      } else await link.reply("502 5.5.2 Command not recognized");
    }
  };
}

/** Undoes dot-stuffing (RFC 5321 §4.5.2): a line starting with "." loses that ".". */
export function unstuff(content: Uint8Array): Uint8Array {
  const out = new Uint8Array(content.length);
  let o = 0;
  let lineStart = true;
  for (let i = 0; i < content.length; i++) {
    const b = content[i]!;
    if (lineStart && b === 0x2e) {
      lineStart = false;
      continue;
    }
    out[o++] = b;
    lineStart = b === 0x0a && content[i - 1] === 0x0d;
  }
  return out.subarray(0, o);
}

function pick(
  reply: string | ((line: string) => string) | undefined,
  line: string,
  dflt: string,
): string {
  if (reply === undefined) return dflt;
  return typeof reply === "function" ? reply(line) : reply;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0]!;
  for (let i = haystack.indexOf(first, from); i >= 0; i = haystack.indexOf(first, i + 1)) {
    if (i + needle.length > haystack.length) return -1;
    let match = true;
    for (let j = 1; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) {
        match = false;
        break;
      }
    }
    if (match) return i;
  }
  return -1;
}

function isDisconnect(err: unknown): boolean {
  return err instanceof Deno.errors.BadResource || err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.BrokenPipe || err instanceof Deno.errors.Interrupted ||
    err instanceof Deno.errors.NotConnected;
}
