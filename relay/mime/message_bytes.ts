/**
 * Reading an RFC 5322 message as bytes, without parsing its MIME structure: where the header
 * section ends, the values of one header field, and what the bytes demand of the SMTP peer.
 *
 * Bytes are mapped to a string one-to-one (latin1) wherever text matching is needed, so a
 * UTF-8 header (RFC 6532) survives untouched.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** What a message needs from the receiving server, and its size. */
export interface MessageNeeds {
  /** Octets >= 0x80 anywhere: the peer must offer 8BITMIME (RFC 6152). */
  readonly needs8BitMime: boolean;
  /** Octets >= 0x80 in the header section: UTF-8 headers need SMTPUTF8 (RFC 6531, RFC 6532). */
  readonly needsSmtpUtf8: boolean;
  /** Octets, as sent (before SMTP dot-stuffing). */
  readonly size: number;
}

/**
 * Index of the first body octet: just after the empty line that ends the header section
 * (CRLF CRLF, or LF LF in a message that still has bare LFs). A message without an empty
 * line is all header: its length is returned.
 */
export function bodyStart(message: Uint8Array): number {
  for (let i = 0; i < message.length; i++) {
    if (message[i] !== 0x0a) continue;
    // The first line itself may be empty: then there are no headers at all.
    if (i === 0) return 1;
    if (i === 1 && message[0] === 0x0d) return 2;
    const next = message[i + 1];
    if (next === 0x0a) return i + 2;
    if (next === 0x0d && message[i + 2] === 0x0a) return i + 3;
  }
  return message.length;
}

/** The header section (up to and including the empty line) as a byte-preserving string. */
export function headerText(message: Uint8Array): string {
  return Buffer.from(message.buffer, message.byteOffset, bodyStart(message)).toString("latin1");
}

/**
 * The unfolded values of every field called `name` (case-insensitive), top to bottom, with
 * surrounding white space removed. Values are byte-preserving strings (UTF-8 stays encoded).
 */
export function headerValues(message: Uint8Array, name: string): string[] {
  const wanted = name.toLowerCase();
  const out: string[] = [];
  for (const field of headerFields(headerText(message))) {
    const colon = field.indexOf(":");
    if (colon > 0 && field.slice(0, colon).trim().toLowerCase() === wanted) {
      out.push(field.slice(colon + 1).replace(/\r?\n(?=[ \t])/g, "").trim());
    }
  }
  return out;
}

/** Splits a header section into fields, each with its continuation lines and line ends. */
export function headerFields(header: string): string[] {
  const lines = header.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  const fields: string[] = [];
  for (const line of lines) {
    if (line === "\n" || line === "\r\n") break; // the empty line that ends the section
    if ((line.startsWith(" ") || line.startsWith("\t")) && fields.length > 0) {
      fields[fields.length - 1] += line;
    } else fields.push(line);
  }
  return fields;
}

/** Reports 8BITMIME / SMTPUTF8 needs and the size of a complete message. */
export function analyseMessage(message: Uint8Array): MessageNeeds {
  const end = bodyStart(message);
  let header8 = false;
  let body8 = false;
  for (let i = 0; i < message.length; i++) {
    if (message[i]! >= 0x80) {
      if (i < end) header8 = true;
      else body8 = true;
      if (header8 && body8) break;
    }
  }
  return { needs8BitMime: header8 || body8, needsSmtpUtf8: header8, size: message.length };
}
