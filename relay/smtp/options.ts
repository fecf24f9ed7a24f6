/**
 * Options of a client session, shared by {@link ./handshake.ts} and {@link ./connect.ts}.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import type { BrokenTlsPeers, StartTls, TlsPolicy } from "../tls/mod.ts";
import type { Credentials } from "./auth.ts";
import type { SmtpTimeouts } from "./timeouts.ts";
import type { TraceHook } from "./trace.ts";

/** How to run a session with one peer. */
export interface SessionOptions {
  /** Time source for every timeout. */
  readonly clock: Clock;
  /** The name sent with EHLO/HELO (RFC 5321 §4.1.1.1: our FQDN, e.g. `FERRY_HOSTNAME`). */
  readonly heloName: string;
  /**
   * The peer's host name (the MX name): SNI and certificate name for TLS, the key of the
   * broken-TLS memory, and the subject of messages.
   */
  readonly peerName: string;
  /** STARTTLS policy; default `opportunistic`. */
  readonly tlsPolicy?: TlsPolicy;
  /** The TLS upgrade; default {@link import("../tls/mod.ts").startTls}. */
  readonly startTls?: StartTls;
  /** Extra trusted roots (PEM) for the `verified` policy. */
  readonly caCerts?: readonly string[];
  /** Peers with a broken TLS handshake, shared across sessions. */
  readonly brokenTls?: BrokenTlsPeers;
  /** Per-phase timeouts; missing ones take RFC 5321 §4.5.3.2 defaults. */
  readonly timeouts?: Partial<SmtpTimeouts>;
  /** AUTH to a smarthost; refused unless the session is encrypted. */
  readonly auth?: Credentials;
  /** Transcript hook (AUTH redacted). */
  readonly trace?: TraceHook;
  /** Use PIPELINING when offered (RFC 2920); default true. */
  readonly pipelining?: boolean;
  /**
   * The stream is already TLS (implicit TLS, RFC 8314): no STARTTLS. The session counts as
   * verified when `tlsPolicy` is `verified`, as `connectSmtp()` verified the stream under it.
   */
  readonly implicitTls?: boolean;
  /**
   * Cuts the opening short in any phase (connect, TLS, greeting, EHLO, STARTTLS): a drain's
   * deadline, a lost destination lease. The connection is closed at once and the open fails as
   * a transient.
   */
  readonly signal?: AbortSignal;
}
