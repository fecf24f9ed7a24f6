/**
 * The byte stream a POP3 session runs over, as a port: `Deno.Conn` and `Deno.TlsConn` satisfy it
 * structurally, and tests plug in scripted in-memory peers.
 *
 * @module
 */

/** The smallest subset of `Deno.Conn` the client needs. */
export interface Pop3Conn {
  /** Reads into `p`; resolves to the byte count, or `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some bytes of `p`; resolves to how many were written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the stream; a pending `read` rejects. */
  close(): void;
}

/**
 * Upgrades `conn` to TLS after a successful `STLS` (RFC 2595 §4) and resolves to the encrypted
 * stream. The implementation owns certificate verification (hostname, CA list).
 */
export type StartTls = (conn: Pop3Conn) => Promise<Pop3Conn>;
