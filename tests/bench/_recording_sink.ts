/**
 * A minimal SMTP receiver on loopback that records, for every message, the wall-clock time at
 * which it answers 250 to the end of data (RFC 5321 §4.1.1.4), keyed by the message's
 * `X-Bench-Seq` header: the end of a latency measurement, as the receiving server sees it.
 * It speaks just what a relay needs (EHLO with PIPELINING, MAIL, RCPT, DATA, RSET, NOOP, QUIT)
 * and keeps whole messages only when asked (`keep`), e.g. to verify a DKIM signature.
 *
 * @module
 */

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

export interface RecordingSink extends AsyncDisposable {
  readonly port: number;
  /** Every (seq, time of the 250) in the order answered; a seq twice means a duplicate. */
  readonly answered: readonly { readonly seq: number; readonly at: number }[];
  /** Messages without the header, and the ones `keep` selected, as received (CRLF). */
  readonly kept: readonly string[];
  /** All messages answered 250. */
  count(): number;
  stop(): Promise<void>;
}

const SEQ = /^X-Bench-Seq:\s*(\d+)\r?$/im;
const END = "\r\n.\r\n";

/** Starts the receiver on a free 127.0.0.1 port. */
export function startRecordingSink(
  options: { readonly keep?: (message: string) => boolean } = {},
): RecordingSink {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const answered: { seq: number; at: number }[] = [];
  const kept: string[] = [];
  let count = 0;
  const conns = new Set<Deno.Conn>();
  const sessions = new Set<Promise<void>>();
  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    const enc = new TextEncoder();
    // latin1: one character per byte, so offsets in the text are offsets in the bytes.
    const dec = new TextDecoder("latin1");
    const write = async (text: string) => {
      const bytes = enc.encode(text);
      for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
    };
    const chunk = new Uint8Array(64 * 1024);
    let buf = "";
    let inData = false;
    try {
      await write("220 sink.test ESMTP\r\n");
      for (;;) {
        const n = await conn.read(chunk);
        if (n === null) return;
        buf += dec.decode(chunk.subarray(0, n));
        for (;;) {
          if (inData) {
            // The data starts right after "DATA\r\n"; an empty message ends with ".\r\n" alone.
            const end = buf.startsWith(".\r\n") ? -2 : buf.indexOf(END);
            if (end === -1) break;
            const message = end === -2 ? "" : buf.slice(0, end + 2);
            buf = buf.slice(end + END.length);
            inData = false;
            const seq = SEQ.exec(message.slice(0, headerEnd(message)));
            if (!seq || options.keep?.(message)) kept.push(message);
            count++;
            const at = wallMs();
            if (seq) answered.push({ seq: Number(seq[1]), at });
            await write("250 2.0.0 queued\r\n");
            continue;
          }
          const eol = buf.indexOf("\r\n");
          if (eol === -1) break;
          const line = buf.slice(0, eol);
          buf = buf.slice(eol + 2);
          const verb = line.slice(0, 4).toUpperCase();
          if (verb === "EHLO") {
            await write("250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 60000000\r\n");
          } else if (verb === "DATA") {
            inData = true;
            await write("354 go ahead\r\n");
          } else if (verb === "QUIT") {
            await write("221 2.0.0 bye\r\n");
            return;
          } else if (["HELO", "MAIL", "RCPT", "RSET", "NOOP"].includes(verb)) {
            await write("250 2.0.0 ok\r\n");
          } else {
            await write("502 5.5.2 not implemented\r\n");
          }
        }
      }
    } catch {
      // The client went away mid-session: what it had not finished was not answered 250.
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const s = serve(conn);
        sessions.add(s);
        s.finally(() => sessions.delete(s));
      }
    } catch {
      // Closed by stop().
    }
  })();
  const stop = async () => {
    try {
      listener.close();
    } catch {
      // Already closed.
    }
    for (const c of conns) {
      try {
        c.close();
      } catch {
        // Already closed.
      }
    }
    await accepting;
    await Promise.all(sessions);
  };
  return {
    port: (listener.addr as Deno.NetAddr).port,
    answered,
    kept,
    count: () => count,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

function headerEnd(message: string): number {
  const i = message.indexOf("\r\n\r\n");
  return i === -1 ? message.length : i;
}
