/**
 * Bridges between {@link ByteStream} and Node's stream world, so `node:tls` can run a client
 * handshake over any ByteStream (Deno's own `Deno.startTls` always verifies the certificate,
 * which opportunistic TLS must not require).
 *
 * @module
 */
import { Duplex } from "node:stream";
import type { Socket } from "node:net";
import type { ByteStream } from "./byte_stream.ts";

const READ_SIZE = 64 * 1024;

/** Wraps a ByteStream as a Node Duplex; destroying the Duplex closes the stream. */
export function byteStreamDuplex(stream: ByteStream): Duplex {
  let reading = false;
  const writeAll = async (chunk: Uint8Array) => {
    for (let off = 0; off < chunk.length;) off += await stream.write(chunk.subarray(off));
  };
  return new Duplex({
    read() {
      if (reading) return;
      reading = true;
      const buf = new Uint8Array(READ_SIZE);
      stream.read(buf).then(
        (n) => {
          reading = false;
          this.push(n === null ? null : buf.subarray(0, n));
        },
        (err) => this.destroy(err),
      );
    },
    write(chunk: Uint8Array, _encoding, callback) {
      writeAll(chunk).then(() => callback(), callback);
    },
    destroy(err, callback) {
      closeQuietly(stream);
      callback(err);
    },
  });
}

/**
 * A Node socket (e.g. a `tls.TLSSocket`) seen as a ByteStream. Incoming data is queued until
 * read; the socket is paused while more than one read's worth is waiting (backpressure).
 */
export class NodeSocketStream implements ByteStream {
  readonly #socket: Socket;
  #chunks: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued > READ_SIZE) socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (err: Error) => {
      this.#error ??= err;
      this.#notify();
    });
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const head = this.#chunks[0]!;
    const n = Math.min(p.length, head.length);
    p.set(head.subarray(0, n));
    if (n === head.length) this.#chunks.shift();
    else this.#chunks[0] = head.subarray(n);
    this.#queued -= n;
    if (this.#queued <= READ_SIZE && this.#socket.isPaused()) this.#socket.resume();
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      // Node may keep a reference to `p` until the callback; callers reuse buffers only after.
      this.#socket.write(p, (err) => err ? reject(err) : resolve(p.length));
    });
  }

  close(): void {
    this.#ended = true;
    this.#socket.destroy();
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

function closeQuietly(stream: ByteStream): void {
  try {
    stream.close();
  } catch {
    // Already closed: closing is idempotent by contract, but Deno.Conn throws on a second close.
  }
}
