/**
 * Fetches a domain's policy file (RFC 8461 §3.3) with one HTTP/1.1 GET over verified TLS:
 * the certificate must chain to a trusted root (Deno's root store, plus `caCerts`) and name
 * `mta-sts.<domain>`. Redirects are not followed (a 3xx is a failure), only a 200 with
 * Content-Type `text/plain` counts, the body is capped (64 KiB) and the whole exchange has a
 * deadline on the injected clock (10 s).
 *
 * A hand-written client rather than `fetch()` because `fetch()` cannot connect to one address
 * while verifying the certificate for another name, which the loopback tests need, and because
 * every limit here is checked before the bytes are read, not after.
 *
 * @module
 */
import { type Clock, runWithDeadline } from "../../lib/clock.ts";
import { ByteReader } from "./byte_reader.ts";
import { readBody, readHead } from "./http_response.ts";
import { isHostName } from "./mx_pattern.ts";
import { fail, ok, type Parsed } from "./result.ts";

/** Fetches the policy file of a domain: its text, or why not. */
export type FetchPolicy = (domain: string, signal?: AbortSignal) => Promise<Parsed<string>>;

export interface PolicyFetcherOptions {
  readonly clock: Clock;
  /** Deadline of the whole fetch: connect, TLS, request, response (default 10 000 ms). */
  readonly timeoutMs?: number;
  /** Largest body accepted (default 65 536 octets, as providers document). */
  readonly maxBytes?: number;
  /** PEM certificates trusted in addition to the root store. */
  readonly caCerts?: readonly string[];
  /**
   * Where to open the TCP connection instead of resolving `mta-sts.<domain>` on port 443;
   * the certificate is still verified for `mta-sts.<domain>`. Loopback tests use it.
   */
  readonly connectTo?: { readonly hostname: string; readonly port: number };
}

export const POLICY_PATH = "/.well-known/mta-sts.txt";

/** A {@link FetchPolicy} over HTTPS. Never rejects, except with the caller's abort reason. */
export function httpsPolicyFetcher(options: PolicyFetcherOptions): FetchPolicy {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxBytes = options.maxBytes ?? 64 * 1024;
  return async (domain, signal) => {
    const host = `mta-sts.${domain.toLowerCase().replace(/\.$/, "")}`;
    const url = `https://${host}${POLICY_PATH}`;
    if (!isHostName(host)) return fail(`${JSON.stringify(host)} is not a host name`);
    try {
      const text = await runWithDeadline(
        options.clock,
        timeoutMs,
        "the policy",
        signal,
        (s) => get(host, options, maxBytes, s),
      );
      return ok(text);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      return fail(`GET ${url} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}

async function get(
  host: string,
  options: PolicyFetcherOptions,
  maxBytes: number,
  signal: AbortSignal,
): Promise<string> {
  const target = options.connectTo ?? { hostname: host, port: 443 };
  const tcp = await Deno.connect({ ...target, signal });
  let conn: Deno.Conn = tcp;
  const close = () => {
    try {
      conn.close();
    } catch {
      // Already closed, or consumed by Deno.startTls.
    }
  };
  signal.addEventListener("abort", close, { once: true });
  try {
    const tls = await Deno.startTls(tcp, {
      hostname: host,
      caCerts: options.caCerts ? [...options.caCerts] : undefined,
    });
    conn = tls;
    if (signal.aborted) throw signal.reason;
    // The handshake is lazy in Deno: run it now so a certificate problem is named as such.
    await tls.handshake().catch((err) => {
      throw new Error(`TLS with ${host}: ${err instanceof Error ? err.message : String(err)}`);
    });
    const request = `GET ${POLICY_PATH} HTTP/1.1\r\nHost: ${host}\r\nAccept: text/plain\r\n` +
      "User-Agent: Ferry MTA-STS\r\nConnection: close\r\n\r\n";
    const bytes = new TextEncoder().encode(request);
    for (let sent = 0; sent < bytes.length;) sent += await tls.write(bytes.subarray(sent));
    const reader = new ByteReader(tls);
    const head = await readHead(reader);
    // §3.3: redirects must not be followed; anything but 200 is a failure.
    if (head.status >= 300 && head.status < 400) {
      const where = head.headers.get("location")?.[0];
      throw new Error(`redirect ${head.status}${where ? ` to ${where}` : ""} refused`);
    }
    if (head.status !== 200) throw new Error(`HTTP status ${head.status}`);
    const type = head.headers.get("content-type") ?? [];
    const media = (type[0] ?? "").split(";")[0]!.trim().toLowerCase();
    if (type.length !== 1 || media !== "text/plain") {
      throw new Error(`Content-Type ${JSON.stringify(type.join(", "))} is not text/plain`);
    }
    const body = await readBody(reader, head, maxBytes);
    return new TextDecoder("utf-8", { fatal: true }).decode(body);
  } finally {
    signal.removeEventListener("abort", close);
    close();
  }
}
