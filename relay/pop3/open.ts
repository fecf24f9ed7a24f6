/**
 * Opening a POP3 session over TCP with Deno's sockets: dial, TLS per the endpoint's mode, greeting,
 * and STLS when asked for. Everything past this point is {@link Pop3Client}'s.
 *
 * @module
 */
import { type Clock, withTimeout } from "../../lib/clock.ts";
import { Pop3Client, type Pop3ClientOptions } from "./client.ts";
import type { Pop3Err, Pop3Refused, Pop3Result } from "./reply.ts";
import type { Pop3Conn } from "./transport.ts";

/**
 * How the session is protected: `none` (port 110, no TLS), `starttls` (port 110, then STLS,
 * RFC 2595) or `implicit` (POP3 over TLS from the first byte, port 995, RFC 8314).
 */
export type Pop3TlsMode = "none" | "starttls" | "implicit";

export interface Pop3Endpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: Pop3TlsMode;
  /** Extra trusted CA certificates (PEM), for private CAs and tests. */
  readonly caCerts?: readonly string[];
}

export interface OpenPop3Options extends Omit<Pop3ClientOptions, "startTls" | "tls"> {
  readonly clock: Clock;
  /** Deadline for the TCP connect. Default 30 s. */
  readonly connectTimeoutMs?: number;
  /** Abandons the attempt: the socket is closed and the promise rejects with the reason. */
  readonly signal?: AbortSignal;
}

/**
 * Dials `endpoint` and returns a session in AUTHORIZATION state, encrypted unless `tls` is
 * `none`. A refused greeting or STLS is returned as a value (and the socket closed); an
 * unreachable host, a failed handshake or an abort throws.
 */
export async function openPop3(
  endpoint: Pop3Endpoint,
  options: OpenPop3Options,
): Promise<Pop3Result<Pop3Client> | Pop3Refused> {
  const { signal } = options;
  signal?.throwIfAborted();
  const tcp = await dial(endpoint, options);
  let client: Pop3Client | undefined;
  // Closing the stream fails whatever read is pending, which ends the attempt.
  const onAbort = () => client ? client.close() : closeQuietly(tcp);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const caCerts = endpoint.caCerts ? [...endpoint.caCerts] : undefined;
    const greeted = await Pop3Client.greet(tcp, {
      ...options,
      tls: endpoint.tls === "implicit",
      // The client hands back the stream it was given, which here is always this TCP socket.
      startTls: endpoint.tls === "starttls"
        ? () => Deno.startTls(tcp as Deno.TcpConn, { hostname: endpoint.host, caCerts })
        : undefined,
    });
    if (greeted.kind === "err") return greeted;
    client = greeted.value;
    if (endpoint.tls === "starttls") {
      const upgraded = await client.stls();
      if (upgraded.kind !== "ok") {
        client.close();
        return upgraded satisfies Pop3Err | Pop3Refused;
      }
    }
    signal?.throwIfAborted();
    return greeted;
  } catch (err) {
    client?.close();
    closeQuietly(tcp);
    throw signal?.aborted ? signal.reason : err;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

async function dial(endpoint: Pop3Endpoint, options: OpenPop3Options): Promise<Pop3Conn> {
  const { host: hostname, port } = endpoint;
  const connecting: Promise<Pop3Conn> = endpoint.tls === "implicit"
    ? Deno.connectTls({
      hostname,
      port,
      caCerts: endpoint.caCerts ? [...endpoint.caCerts] : undefined,
    })
    : Deno.connect({ hostname, port });
  try {
    return await withTimeout(
      options.clock,
      options.connectTimeoutMs ?? 30_000,
      `a POP3 connection to ${hostname}:${port}`,
      (timedOut) => abortable(connecting, options.signal, timedOut),
    );
  } catch (err) {
    // A connect that completes after its deadline or abort must not leak its socket.
    connecting.then((late) => late.close(), () => undefined);
    throw err;
  }
}

/** `work`, or a rejection as soon as either signal aborts. */
function abortable<T>(work: Promise<T>, ...signals: (AbortSignal | undefined)[]): Promise<T> {
  const live = signals.filter((s): s is AbortSignal => s !== undefined);
  if (live.length === 0) return work;
  const any = AbortSignal.any(live);
  if (any.aborted) return Promise.reject(any.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(any.reason);
    any.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => any.removeEventListener("abort", onAbort));
  });
}

function closeQuietly(conn: Pop3Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed, or handed over to TLS.
  }
}
