/**
 * ESMTP capabilities from the EHLO reply (RFC 5321 §4.1.1.1): the first line names the server,
 * each further line is `keyword [params]`, keywords case-insensitive.
 *
 * @module
 */
import type { Reply } from "./reply.ts";

/** What the peer announced. After a HELO fallback, nothing is announced. */
export interface Capabilities {
  /** EHLO succeeded (false after falling back to HELO). */
  readonly esmtp: boolean;
  /** RFC 2920. */
  readonly pipelining: boolean;
  /** RFC 3207. */
  readonly startTls: boolean;
  /**
   * RFC 1870: the announced fixed maximum message size; 0 when SIZE is announced without a
   * limit; `undefined` when SIZE is not announced.
   */
  readonly size?: number;
  /** RFC 6152. */
  readonly eightBitMime: boolean;
  /** RFC 6531. */
  readonly smtpUtf8: boolean;
  /** RFC 2034. */
  readonly enhancedStatusCodes: boolean;
  /** RFC 3030: BDAT, message content in counted chunks instead of DATA. */
  readonly chunking: boolean;
  /**
   * RFC 8689 §2: the peer takes the REQUIRETLS MAIL parameter. Only meaningful in the EHLO
   * reply after STARTTLS: the one from before TLS is forgotten (RFC 3207 §4.2).
   */
  readonly requireTls: boolean;
  /** RFC 4954 mechanisms, upper-case (e.g. `PLAIN`, `LOGIN`). */
  readonly auth: readonly string[];
  /** Every keyword (upper-case) with its parameters, for extensions not modelled above. */
  readonly keywords: ReadonlyMap<string, string>;
}

/** The capabilities of a peer that only speaks HELO (RFC 821). */
export const HELO_CAPABILITIES: Capabilities = Object.freeze({
  esmtp: false,
  pipelining: false,
  startTls: false,
  eightBitMime: false,
  smtpUtf8: false,
  enhancedStatusCodes: false,
  chunking: false,
  requireTls: false,
  auth: [],
  keywords: new Map(),
});

/** Parses a 250 reply to EHLO. Unknown or malformed lines are kept in `keywords` or skipped. */
export function parseEhlo(reply: Reply): Capabilities {
  const keywords = new Map<string, string>();
  const auth = new Set<string>();
  for (const line of reply.lines.slice(1)) {
    // Some old servers announce "AUTH=LOGIN PLAIN" for pre-RFC 2554 clients: same meaning.
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:[ =](.*))?$/.exec(line.trim());
    if (!m) continue;
    const keyword = m[1]!.toUpperCase();
    const params = (m[2] ?? "").trim();
    keywords.set(keyword, params);
    if (keyword === "AUTH") {
      for (const mech of params.split(/\s+/)) if (mech) auth.add(mech.toUpperCase());
    }
  }
  const sizeParam = keywords.get("SIZE");
  const sizeValue = sizeParam === undefined ? undefined : Number(sizeParam || "0");
  const caps: Capabilities = {
    esmtp: true,
    pipelining: keywords.has("PIPELINING"),
    startTls: keywords.has("STARTTLS"),
    eightBitMime: keywords.has("8BITMIME"),
    smtpUtf8: keywords.has("SMTPUTF8"),
    enhancedStatusCodes: keywords.has("ENHANCEDSTATUSCODES"),
    chunking: keywords.has("CHUNKING"),
    requireTls: keywords.has("REQUIRETLS"),
    auth: [...auth],
    keywords,
  };
  if (sizeValue === undefined) return caps;
  // A non-numeric SIZE parameter is treated as "no fixed limit" rather than as a limit of NaN.
  return { ...caps, size: Number.isSafeInteger(sizeValue) && sizeValue > 0 ? sizeValue : 0 };
}
