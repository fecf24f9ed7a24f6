/**
 * Sending a report to an `https:` rua (RFC 8460 §5.4): one POST of the gzip-compressed report
 * with `Content-Type: application/tlsrpt+gzip` (§5.2, §6), under a deadline on the injected
 * clock. The certificate is verified (Deno's root store, plus `caCerts`); redirects are not
 * followed, so a 3xx counts as a failure like any answer but 2xx.
 *
 * @module
 */
import { type Clock, withTimeout } from "../../lib/clock.ts";

/** POSTs a report; never rejects, except with the caller's abort reason. */
export type PostReport = (
  url: string,
  gzip: Uint8Array,
  signal?: AbortSignal,
) => Promise<{ readonly ok: true } | { readonly ok: false; readonly reason: string }>;

export interface ReportPosterOptions {
  readonly clock: Clock;
  /** Deadline of one POST, connecting included (default 30 s). */
  readonly timeoutMs?: number;
  /** PEM certificates trusted in addition to the root store. */
  readonly caCerts?: readonly string[];
  /** Replaces `fetch` (tests). */
  readonly fetch?: typeof fetch;
}

export function httpsReportPoster(options: ReportPosterOptions): PostReport {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const doFetch = options.fetch ?? fetch;
  const client = options.caCerts && options.caCerts.length > 0
    ? Deno.createHttpClient({ caCerts: [...options.caCerts] })
    : undefined;
  return async (url, gzip, signal) => {
    if (!url.toLowerCase().startsWith("https:")) {
      return { ok: false, reason: `${url} is not an https: URL` };
    }
    try {
      const res = await withTimeout(
        options.clock,
        timeoutMs,
        `the report POST to ${url}`,
        (s) =>
          doFetch(url, {
            method: "POST",
            // A copy on its own ArrayBuffer: what BodyInit accepts.
            body: new Uint8Array(gzip),
            redirect: "manual",
            signal: signal ? AbortSignal.any([s, signal]) : s,
            headers: {
              "content-type": "application/tlsrpt+gzip",
              "user-agent": "Ferry-TLSRPT/1",
            },
            ...(client ? { client } : {}),
          }),
      );
      await res.body?.cancel();
      if (res.ok) return { ok: true };
      return { ok: false, reason: `POST ${url}: HTTP ${res.status} ${res.statusText}`.trim() };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      return { ok: false, reason: `POST ${url}: ${describe(err)}` };
    }
  };
}

/** An error with its causes: fetch() says "fetch failed" and puts the TLS error in `cause`. */
function describe(err: unknown): string {
  const parts: string[] = [];
  for (let e = err, depth = 0; e !== undefined && depth < 4; depth++) {
    parts.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(" <- ");
}
