/**
 * Adding a header field at the top of a complete message, as a relay does with trace fields
 * and DKIM-Signature (RFC 6376 §5.6: "the DKIM-Signature header field ... SHOULD be inserted
 * before any other DKIM-Signature fields in the header block"), optionally removing earlier
 * fields of the same name. The rest of the message is copied byte for byte.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { bodyStart, headerFields } from "./message_bytes.ts";

/** RFC 5322 §3.6.8: printable US-ASCII except ':'. */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;

/** A header field that cannot be written as given. */
export class HeaderFieldError extends Error {
  override readonly name = "HeaderFieldError";
  constructor(readonly field: string, readonly detail: string) {
    super(`Cannot add header field ${JSON.stringify(field)} as ${detail}`);
  }
}

/**
 * Returns the message with `Name: value` as its first field. `value` may be folded already
 * (CRLF followed by white space); any other CR or LF is refused, as it would end the field
 * and let the value inject fields of its own.
 */
export function prependHeader(message: Uint8Array, name: string, value: string): Uint8Array {
  return join(formatField(name, value), message);
}

/** Like {@link prependHeader}, after removing every existing field called `name`. */
export function replaceHeader(message: Uint8Array, name: string, value: string): Uint8Array {
  const field = formatField(name, value);
  const end = bodyStart(message);
  const header = Buffer.from(message.buffer, message.byteOffset, end).toString("latin1");
  const wanted = name.toLowerCase();
  const kept = headerFields(header).filter((f) => {
    const colon = f.indexOf(":");
    return colon <= 0 || f.slice(0, colon).trim().toLowerCase() !== wanted;
  });
  const rest = header.slice(headerFields(header).join("").length); // the empty line, if any
  const rebuilt = Buffer.from(kept.join("") + rest, "latin1");
  return join(field, rebuilt, message.subarray(end));
}

function formatField(name: string, value: string): Uint8Array {
  if (!FIELD_NAME.test(name)) {
    throw new HeaderFieldError(name, "its name must be printable US-ASCII without ':'");
  }
  const unfolded = value.replace(/\r\n(?=[ \t])/g, "");
  if (/[\r\n\0]/.test(unfolded)) {
    throw new HeaderFieldError(name, "its value has a CR, LF or NUL outside folding white space");
  }
  return Buffer.from(`${name}: ${value}\r\n`, "utf8");
}

function join(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
