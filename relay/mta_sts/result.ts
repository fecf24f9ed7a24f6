/**
 * Parsers and the fetcher answer with values, not exceptions: a malformed record or a failed
 * fetch is an ordinary outcome of MTA-STS discovery (RFC 8461 §3), each with its reason.
 *
 * @module
 */

/** A parsed value, or why there is none. */
export type Parsed<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string };

export const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
export const fail = <T>(reason: string): Parsed<T> => ({ ok: false, reason });
