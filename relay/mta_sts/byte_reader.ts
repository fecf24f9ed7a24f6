/**
 * Buffered reads from a connection, each with a bound on how much it may take, so a peer
 * cannot make the reader hold more than the caller allows.
 *
 * @module
 */

/** What the reader needs of a connection. */
export interface Readable {
  read(into: Uint8Array): Promise<number | null>;
}

/** The peer sent more than allowed, or stopped early. */
export class ReadError extends Error {
  override readonly name = "ReadError";
}

export class ByteReader {
  readonly #conn: Readable;
  #pending = new Uint8Array(0);
  #ended = false;

  constructor(conn: Readable) {
    this.#conn = conn;
  }

  /** Reads up to `delimiter` and consumes it; the part before it may be `max` octets at most. */
  async readUntil(delimiter: Uint8Array, max: number, what: string): Promise<Uint8Array> {
    for (let from = 0;;) {
      const at = indexOf(this.#pending, delimiter, from);
      if (at >= 0) {
        if (at > max) break;
        const out = this.#pending.slice(0, at);
        this.#pending = this.#pending.subarray(at + delimiter.length);
        return out;
      }
      if (this.#pending.length > max + delimiter.length) break;
      from = Math.max(0, this.#pending.length - delimiter.length + 1);
      if (!await this.#fill()) throw new ReadError(`the connection closed inside the ${what}`);
    }
    throw new ReadError(`the ${what} is over ${max} octets`);
  }

  /** Reads exactly `length` octets. */
  async readExactly(length: number, what: string): Promise<Uint8Array> {
    while (this.#pending.length < length) {
      if (!await this.#fill()) throw new ReadError(`the connection closed inside the ${what}`);
    }
    const out = this.#pending.slice(0, length);
    this.#pending = this.#pending.subarray(length);
    return out;
  }

  /** Reads until the peer closes; more than `max` octets is an error. */
  async readToEnd(max: number, what: string): Promise<Uint8Array> {
    while (await this.#fill()) {
      if (this.#pending.length > max) throw new ReadError(`the ${what} is over ${max} octets`);
    }
    const out = this.#pending.slice();
    this.#pending = new Uint8Array(0);
    return out;
  }

  async #fill(): Promise<boolean> {
    if (this.#ended) return false;
    const chunk = new Uint8Array(16 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) {
      this.#ended = true;
      return false;
    }
    const next = new Uint8Array(this.#pending.length + n);
    next.set(this.#pending);
    next.set(chunk.subarray(0, n), this.#pending.length);
    this.#pending = next;
    return true;
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
