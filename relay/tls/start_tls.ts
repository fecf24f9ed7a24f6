/**
 * The default TLS upgrade for SMTP STARTTLS (RFC 3207) and implicit TLS (RFC 8314).
 *
 * Verified TLS uses Deno's native `Deno.startTls` (chain and host name checked, `caCerts` added to
 * the roots). Unverified TLS (opportunistic and `required` policies) runs `node:tls` with
 * `rejectUnauthorized: false` over the same stream, because `Deno.startTls` offers no way to
 * accept a self-signed MX certificate, and RFC 7435 §3 prefers unauthenticated encryption to none.
 *
 * {@link startTlsWithPeerChain} is that same unverified upgrade for callers that authenticate the
 * peer themselves from its certificate chain (DANE, RFC 7672 §3): `Deno.startTls` exposes neither
 * the chain nor a way to replace its verification, `node:tls` gives both.
 *
 * @module
 */
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { isIP } from "node:net";
import type { ByteStream, StartTls, StartTlsOptions, TlsStream } from "./byte_stream.ts";
import { byteStreamDuplex } from "./node_socket_stream.ts";
import { TlsSocketStream } from "./tls_socket_stream.ts";

/** A TLS handshake failed; `cause` holds the library's error. */
export class TlsHandshakeError extends Error {
  override readonly name = "TlsHandshakeError";
  constructor(readonly hostname: string, readonly verified: boolean, options: { cause: unknown }) {
    super(
      `Cannot establish TLS with '${hostname}' (${verified ? "verified" : "unverified"}): ${
        describe(options.cause)
      }`,
      options,
    );
  }
}

/**
 * Upgrades `stream` to TLS as a client, aborting the handshake when `signal` aborts.
 * Rejects with a {@link TlsHandshakeError}; the stream is closed in that case.
 */
export const startTls: StartTls = (stream, options) =>
  options.verify ? startVerified(stream, options) : startUnverified(stream, options);

/**
 * Upgrades `stream` to TLS through `node:tls` without any verification, and hands over the peer's
 * certificate chain and the TLS version, for the caller to authenticate the peer (and close the
 * stream if it fails) before sending anything. Rejects with a {@link TlsHandshakeError}, the
 * stream closed, when the handshake itself fails.
 */
export function startTlsWithPeerChain(
  stream: ByteStream,
  options: Pick<StartTlsOptions, "hostname" | "signal">,
): Promise<TlsStream> {
  return startUnverified(stream, options);
}

async function startVerified(
  stream: ByteStream,
  options: StartTlsOptions,
): Promise<ByteStream> {
  let tls: Deno.TlsConn;
  try {
    // Deno.startTls needs a Deno.TcpConn; any other stream fails here and is reported as such.
    tls = await Deno.startTls(stream as Deno.TcpConn, {
      hostname: options.hostname,
      caCerts: options.caCerts ? [...options.caCerts] : undefined,
    });
  } catch (cause) {
    closeQuietly(stream);
    throw new TlsHandshakeError(options.hostname, true, { cause });
  }
  const abort = () => closeQuietly(tls);
  options.signal?.addEventListener("abort", abort, { once: true });
  try {
    // The handshake is lazy in Deno: force it now so failures surface here, not on first write.
    await tls.handshake();
    return tls;
  } catch (cause) {
    closeQuietly(tls);
    throw new TlsHandshakeError(options.hostname, true, { cause });
  } finally {
    options.signal?.removeEventListener("abort", abort);
  }
}

async function startUnverified(
  stream: ByteStream,
  options: Pick<StartTlsOptions, "hostname" | "signal">,
): Promise<TlsStream> {
  const duplex = byteStreamDuplex(stream);
  const socket: TLSSocket = tlsConnect({
    // deno-lint-ignore no-explicit-any
    socket: duplex as any,
    // SNI carries host names only (RFC 6066 §3).
    servername: isIP(options.hostname) ? undefined : options.hostname,
    rejectUnauthorized: false,
  });
  const abort = () => socket.destroy(new Error("TLS handshake aborted"));
  options.signal?.addEventListener("abort", abort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", () => resolve());
      socket.once("error", reject);
      socket.once("close", () => reject(new Error("connection closed during the TLS handshake")));
    });
    socket.removeAllListeners("error");
    socket.removeAllListeners("close");
    return new TlsSocketStream(socket);
  } catch (cause) {
    socket.destroy();
    duplex.destroy();
    throw new TlsHandshakeError(options.hostname, false, { cause });
  } finally {
    options.signal?.removeEventListener("abort", abort);
  }
}

function closeQuietly(stream: ByteStream): void {
  try {
    stream.close();
  } catch {
    // Already closed or consumed by Deno.startTls.
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
