/**
 * APOP (RFC 1939 §7): the client proves it knows the shared secret by sending
 * `MD5(timestamp + secret)`, where the timestamp is the `<...>` msg-id the server put in its
 * greeting. The secret never crosses the wire; the digest is still in the trace redaction list,
 * because MD5 of a known timestamp invites an offline dictionary attack.
 *
 * @module
 */
import { createHash } from "node:crypto";

// RFC 1939 §7: the timestamp is a msg-id in the greeting, e.g. `<1896.697170952@dbc.mtview.ca.us>`.
const TIMESTAMP = /<[^<>\s]*@[^<>\s]*>/;

/** The APOP timestamp in a greeting's text, if the server offers APOP. */
export function apopTimestamp(greeting: string): string | undefined {
  return TIMESTAMP.exec(greeting)?.[0];
}

/** The lower-case hex MD5 digest sent in `APOP name digest`. */
export function apopDigest(timestamp: string, secret: string): string {
  return createHash("md5").update(timestamp + secret, "utf8").digest("hex");
}
