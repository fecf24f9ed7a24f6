/**
 * TLS for outbound SMTP: the policy and its pure STARTTLS decision, the memory of peers with a
 * broken handshake, the default client upgrade over any {@link ByteStream}, and an unverified
 * upgrade that exposes the peer's certificate chain for DANE ({@link startTlsWithPeerChain}).
 *
 * @module
 */
export type { ByteStream, StartTls, StartTlsOptions, TlsStream } from "./byte_stream.ts";
export {
  decideTls,
  TLS_POLICIES,
  type TlsDecision,
  type TlsPolicy,
  tlsRequired,
} from "./policy.ts";
export { type BrokenTlsPeer, BrokenTlsPeers, type BrokenTlsPeersOptions } from "./broken_peers.ts";
export { startTls, startTlsWithPeerChain, TlsHandshakeError } from "./start_tls.ts";
export { byteStreamDuplex, NodeSocketStream } from "./node_socket_stream.ts";
export { type TlsFailureType, tlsFailureType } from "./failure_type.ts";
