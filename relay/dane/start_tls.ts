/**
 * The TLS upgrade for a host whose TLSA records are usable: a {@link StartTls} that runs the
 * handshake without the TLS library's own verification, then authenticates the server with
 * DANE (RFC 7672 §3) before a single SMTP byte is sent over the new channel. A server that does
 * not match is hung up on, and the upgrade rejects as a failed verified handshake.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import type { TlsaRecord } from "../dns/mod.ts";
import {
  type StartTls,
  startTlsWithPeerChain,
  TlsHandshakeError,
  type TlsStream,
} from "../tls/mod.ts";
import { type DaneVerification, verifyDane } from "./verify.ts";

/** The server's chain matched none of the records. */
export class DaneMismatchError extends Error {
  override readonly name = "DaneMismatchError";
  constructor(readonly reasons: readonly string[]) {
    super(`DANE authentication failed: ${reasons.join("; ")}`);
  }
}

export interface DaneStartTlsOptions {
  /** The usable records (a `dane` decision's `records`). */
  readonly records: readonly TlsaRecord[];
  /** Names a DANE-TA certificate may carry (a `dane` decision's `referenceNames`). */
  readonly referenceNames: readonly string[];
  /** SNI: the TLSA base domain (a `dane` decision's `serverName`); default: the peer name. */
  readonly serverName?: string;
  /** For DANE-TA validity periods. */
  readonly clock: Pick<Clock, "now">;
  /** Told of each successful authentication, e.g. to log how it matched and the TLS version. */
  readonly onAuthenticated?: (
    match: Extract<DaneVerification, { ok: true }>,
    tls: TlsStream,
  ) => void;
  /** The upgrade that exposes the chain; default {@link startTlsWithPeerChain} (tests swap it). */
  readonly upgrade?: typeof startTlsWithPeerChain;
}

/**
 * A STARTTLS upgrade that authenticates with DANE. Pass it as the SMTP session's `startTls`,
 * with a TLS policy that never falls back to plaintext (`verified`). The StartTls options'
 * `verify` and `caCerts` are ignored: DANE replaces WebPKI verification for this host.
 */
export function daneStartTls(options: DaneStartTlsOptions): StartTls {
  const upgrade = options.upgrade ?? startTlsWithPeerChain;
  return async (stream, tlsOptions) => {
    const hostname = options.serverName ?? tlsOptions.hostname;
    const tls = await upgrade(stream, {
      hostname,
      ...(tlsOptions.signal ? { signal: tlsOptions.signal } : {}),
    });
    const result = verifyDane(tls.peerCertificates(), options.records, {
      referenceNames: options.referenceNames,
      now: options.clock.now(),
    });
    if (!result.ok) {
      tls.close();
      throw new TlsHandshakeError(hostname, true, { cause: new DaneMismatchError(result.reasons) });
    }
    options.onAuthenticated?.(result, tls);
    return tls;
  };
}
