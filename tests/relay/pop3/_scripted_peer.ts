/**
 * A scripted, misbehaving-on-demand POP3 server as an in-memory {@link Pop3Conn}: the client's
 * command lines are checked against a script and answered with canned bytes, delivered in tiny
 * chunks so every buffering edge (CR and LF split across reads, a dot at a chunk boundary) is hit.
 */
import type { Pop3Conn } from "../../../relay/pop3/mod.ts";

/** One step: the exact command line expected (without CRLF), and the raw reply to send. */
export type Step = readonly [command: string | RegExp, reply: string];

export class ScriptedConn implements Pop3Conn {
  /** Every line the client wrote, as written (CRLF removed). */
  readonly written: string[] = [];
  closed = false;
  #inbox: Uint8Array[] = [];
  #waiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
  #script: Step[];
  #partial = "";
  #eof = false;
  readonly #chunk: number;

  constructor(greeting: string | undefined, script: readonly Step[], chunk = 3) {
    this.#script = [...script];
    this.#chunk = chunk;
    if (greeting !== undefined) this.send(greeting);
  }

  /** Queues raw server bytes. */
  send(text: string | Uint8Array): void {
    const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
    for (let i = 0; i < bytes.length; i += this.#chunk) {
      this.#inbox.push(bytes.slice(i, i + this.#chunk));
    }
    this.#wake();
  }

  /** The server hangs up. */
  hangUp(): void {
    this.#eof = true;
    this.#wake();
  }

  /** Steps the client has not reached. */
  get remaining(): number {
    return this.#script.length;
  }

  async read(p: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.closed) throw new Deno.errors.BadResource("scripted connection closed");
      const next = this.#inbox[0];
      if (next) {
        const n = Math.min(p.length, next.length);
        p.set(next.subarray(0, n));
        if (n === next.length) this.#inbox.shift();
        else this.#inbox[0] = next.subarray(n);
        return n;
      }
      if (this.#eof) return null;
      await new Promise<void>((resolve, reject) => (this.#waiter = { resolve, reject }));
    }
  }

  write(p: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    this.#partial += new TextDecoder().decode(p);
    let at: number;
    while ((at = this.#partial.indexOf("\r\n")) >= 0) {
      const line = this.#partial.slice(0, at);
      this.#partial = this.#partial.slice(at + 2);
      this.written.push(line);
      const step = this.#script.shift();
      if (!step) throw new Error(`scripted peer: unexpected command '${line}'`);
      const [expected, reply] = step;
      const matches = typeof expected === "string" ? expected === line : expected.test(line);
      if (!matches) throw new Error(`scripted peer: expected '${expected}', got '${line}'`);
      if (reply !== "") this.send(reply);
    }
    return Promise.resolve(p.length);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.reject(new Deno.errors.BadResource("scripted connection closed"));
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.resolve();
  }
}
