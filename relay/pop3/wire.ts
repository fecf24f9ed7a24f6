/**
 * Small pieces of the POP3 wire format shared by the client's commands: writing a whole command,
 * validating arguments and numbers, splitting a multi-line listing.
 *
 * @module
 */
import { Pop3ClosedError, Pop3ProtocolError } from "./errors.ts";
import type { MultilineBody } from "./line_reader.ts";
import type { Pop3Conn } from "./transport.ts";

/** Writes every byte of a command line (a stream may take fewer than offered). */
export async function writeAll(conn: Pop3Conn, bytes: Uint8Array, verb: string): Promise<void> {
  let at = 0;
  while (at < bytes.length) {
    let n: number;
    try {
      n = await conn.write(bytes.subarray(at));
    } catch (cause) {
      throw new Pop3ClosedError(`Cannot send ${verb} as the connection failed`, verb, { cause });
    }
    if (n <= 0) throw new Pop3ClosedError(`Cannot send ${verb} as the stream took no bytes`, verb);
    at += n;
  }
}

/** The lines of a multi-line listing (CAPA, LIST, UIDL). */
export function linesOf(body: MultilineBody | undefined): string[] {
  if (!body) return [];
  const text = new TextDecoder().decode(body.bytes);
  return text.split("\r\n").slice(0, body.lines);
}

/** Rejects CR/LF in an argument: it would let the value smuggle in a second command. */
export function arg(value: string, verb: string): string {
  if (/[\r\n\0]/.test(value)) {
    throw new RangeError(`Cannot send ${verb} as its argument must not contain CR, LF or NUL`);
  }
  return value;
}

/** A message number as RFC 1939 §3 defines them: 1 and up. */
export function msgNumber(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`Cannot address a message as 'n' must be >= 1: current value is ${n}`);
  }
  return n;
}

/** A decimal token of a reply, or a protocol error. */
export function toNumber(token: string, verb: string): number {
  if (!/^\d{1,15}$/.test(token)) {
    throw new Pop3ProtocolError(`Cannot use ${verb} as '${token}' is not a number`, verb);
  }
  return Number(token);
}
