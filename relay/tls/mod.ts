/**
 * TLS for outbound SMTP: the policy and its pure STARTTLS decision, the memory of peers with a
 * broken handshake, and the default client upgrade over any {@link ByteStream}.
 *
 * @module
 */
export type { ByteStream, StartTls, StartTlsOptions } from "./byte_stream.ts";
export {
  decideTls,
  TLS_POLICIES,
  type TlsDecision,
  type TlsPolicy,
  tlsRequired,
} from "./policy.ts";
export { type BrokenTlsPeer, BrokenTlsPeers, type BrokenTlsPeersOptions } from "./broken_peers.ts";
export { startTls, TlsHandshakeError } from "./start_tls.ts";
export { byteStreamDuplex, NodeSocketStream } from "./node_socket_stream.ts";
