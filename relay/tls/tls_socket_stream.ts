/**
 * A `node:tls` client socket as a {@link TlsStream}: the byte stream of
 * {@link NodeSocketStream}, plus the peer's certificate chain and the protocol version, read
 * from the socket once the handshake is done.
 *
 * @module
 */
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";
import type { TlsStream } from "./byte_stream.ts";
import { NodeSocketStream } from "./node_socket_stream.ts";

// A chain longer than this is not a chain a TLS library would have accepted to send anyway;
// the bound only protects the walk below.
const MAX_CHAIN = 16;

export class TlsSocketStream extends NodeSocketStream implements TlsStream {
  readonly #certificates: readonly Uint8Array[];
  readonly #version: string;

  /** `socket` must have completed its handshake (after `secureConnect`). */
  constructor(socket: TLSSocket) {
    super(socket);
    // Read now: after close() the socket no longer answers.
    this.#certificates = peerChain(socket);
    this.#version = socket.getProtocol() ?? "unknown";
  }

  peerCertificates(): Uint8Array[] {
    return this.#certificates.map((der) => der.slice());
  }

  tlsVersion(): string {
    return this.#version;
  }
}

/**
 * Walks `getPeerCertificate(true)`: each entry's `issuerCertificate` is the next one, and a
 * self-signed certificate is its own issuer, which ends the walk.
 */
function peerChain(socket: TLSSocket): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  // Without a certificate the socket answers `{}`, whose `raw` is undefined.
  let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  while (cert?.raw && out.length < MAX_CHAIN) {
    if (seen.has(cert.fingerprint256)) break;
    seen.add(cert.fingerprint256);
    out.push(Uint8Array.from(cert.raw));
    if (cert.issuerCertificate === cert) break;
    cert = cert.issuerCertificate;
  }
  return out;
}
