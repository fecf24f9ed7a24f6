/**
 * `connectSmtp()`: TCP connect (optionally implicit TLS, RFC 8314 §3.3, port 465), then the
 * opening dialogue. Every way of not getting a session is a classified connection-scope failure.
 *
 * @module
 */
import { connect as netConnect } from "node:net";
import { withTimeout } from "../../lib/clock.ts";
import {
  type ByteStream,
  NodeSocketStream,
  startTls as defaultStartTls,
  tlsFailureType,
} from "../tls/mod.ts";
import { type OpenResult, openSession } from "./handshake.ts";
import type { SessionOptions } from "./options.ts";
import { localTransient } from "./outcome.ts";
import { resolveTimeouts } from "./timeouts.ts";

/** Opens a TCP connection; injectable for tests. */
export type Connector = (host: string, port: number, signal: AbortSignal) => Promise<ByteStream>;

/** Options of {@link connectSmtp}. */
export interface ConnectOptions extends Omit<SessionOptions, "peerName"> {
  /** The peer's name for TLS and messages; default: `host`. */
  readonly peerName?: string;
  /** The TCP connector; default `Deno.connect`. */
  readonly connect?: Connector;
}

/** The default connector: `Deno.connect` over TCP. */
export const denoConnect: Connector = async (host, port, signal) => {
  const conn = await Deno.connect({ hostname: host, port, transport: "tcp", signal });
  // Writes are already gathered (a pipelined group, 64 KiB data blocks); Nagle would only hold
  // back the short last write of a message (the terminator) until the peer's delayed ACK.
  conn.setNoDelay(true);
  return conn;
};

/**
 * A connector whose connections leave from `localAddress` (an egress source address). Over
 * `node:net`, since `Deno.connect` cannot bind the local end of a TCP connection.
 */
export function boundConnect(localAddress: string): Connector {
  return (host, port, signal) =>
    new Promise<ByteStream>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason ?? new Error("aborted"));
      const socket = netConnect({ host, port, localAddress, noDelay: true });
      const onAbort = () => {
        socket.destroy();
        reject(signal.reason ?? new Error("aborted"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const settle = () => {
        signal.removeEventListener("abort", onAbort);
        socket.off("connect", onConnect);
        socket.off("error", onError);
      };
      const onConnect = () => {
        settle();
        // Same reason as denoConnect: writes are already gathered.
        socket.setNoDelay(true);
        resolve(new NodeSocketStream(socket));
      };
      const onError = (err: Error) => {
        settle();
        socket.destroy();
        // The source address is named: a bind failure (not an address of this host) is ours.
        reject(new Error(`${err.message} (from ${localAddress})`, { cause: err }));
      };
      socket.once("connect", onConnect);
      socket.once("error", onError);
    });
}

/** Connects to `host:port` and runs the opening dialogue. */
export async function connectSmtp(
  host: string,
  port: number,
  options: ConnectOptions,
): Promise<OpenResult> {
  const peerName = options.peerName ?? host;
  const timeouts = resolveTimeouts(options.timeouts);
  const where = `${host}:${port}`;
  const cut = options.signal;
  const both = (signal: AbortSignal) => cut ? AbortSignal.any([signal, cut]) : signal;
  let stream: ByteStream;
  try {
    if (cut?.aborted) throw new Error("stopped");
    stream = await withTimeout(
      options.clock,
      timeouts.connect,
      `connect to ${where}`,
      (signal) => (options.connect ?? denoConnect)(host, port, both(signal)),
    );
  } catch (err) {
    // RFC 3463 X.4.1 "No answer from host": refused, unreachable or timed out alike.
    return {
      kind: "failed",
      failure: localTransient(
        "connection",
        451,
        "4.4.1",
        `cannot connect to ${where}: ${describe(err)}`,
      ),
    };
  }
  if (options.implicitTls) {
    const verify = options.tlsPolicy === "verified";
    try {
      stream = await withTimeout(
        options.clock,
        timeouts.starttls,
        `TLS with ${where}`,
        (signal) =>
          (options.startTls ?? defaultStartTls)(stream, {
            hostname: peerName,
            verify,
            caCerts: options.caCerts,
            signal: both(signal),
          }),
      );
    } catch (err) {
      return {
        kind: "failed",
        failure: localTransient(
          "connection",
          451,
          "4.7.5",
          `TLS with ${where} failed: ${describe(err)}`,
        ),
        tls: tlsFailureType(describe(err)),
      };
    }
  }
  if (cut?.aborted) {
    try {
      stream.close();
    } catch {
      // Already closed by the peer.
    }
    return {
      kind: "failed",
      failure: localTransient("connection", 451, "4.4.1", `opening ${where} was stopped`),
    };
  }
  // From here the session owns the stream, and the cut: after STARTTLS the stream in use is the
  // TLS one (the plain one was consumed by the upgrade), which only the session knows.
  return await openSession(stream, { ...options, peerName, timeouts });
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
