/**
 * The smallest connection shape the SMTP client needs. `Deno.Conn` and `Deno.TlsConn` satisfy it
 * as they are; {@link ./node_socket_stream.ts} adapts a Node TLS socket to it. Declared here (the
 * lowest layer that handles connections) so relay/tls does not depend on relay/smtp.
 *
 * @module
 */

/** A bidirectional byte stream: a TCP or TLS connection, or a test double. */
export interface ByteStream {
  /** Reads into `p`; resolves to the number of bytes read, or `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p` (possibly fewer bytes than given); resolves to the count written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the stream; pending reads and writes reject. Must be safe to call twice. */
  close(): void;
}

/**
 * A TLS connection that says who is at the other end: what an authentication of our own (DANE,
 * RFC 7672 §3) needs, since the TLS library's verification was switched off for it.
 */
export interface TlsStream extends ByteStream {
  /**
   * The certificates the peer presented, DER, leaf first, then its issuers in the order the TLS
   * library chained them. Empty if the peer sent none.
   */
  peerCertificates(): Uint8Array[];
  /** The negotiated protocol version, e.g. `TLSv1.3`. */
  tlsVersion(): string;
}

/** What a TLS upgrade needs to know besides the stream. */
export interface StartTlsOptions {
  /** The peer's host name: sent as SNI and, when verifying, matched against the certificate. */
  readonly hostname: string;
  /**
   * Verify the certificate chain and host name (policy `verified`). Opportunistic and `required`
   * TLS do not (RFC 7435 §3: unauthenticated encryption beats none; most MX certificates would
   * fail verification).
   */
  readonly verify: boolean;
  /** Extra trusted roots (PEM), e.g. a private CA; used when verifying. */
  readonly caCerts?: readonly string[];
  /** Aborts the handshake (e.g. on timeout); the stream is then closed. */
  readonly signal?: AbortSignal;
}

/**
 * Upgrades a stream to TLS as the client. Resolves only once the handshake completed; rejects
 * when it fails (the given stream is then closed or consumed: never reuse it). Injected so tests
 * can substitute a failing or instrumented upgrade.
 */
export type StartTls = (stream: ByteStream, options: StartTlsOptions) => Promise<ByteStream>;
