/**
 * The DNS port: the smallest surface routing needs (MX, A, AAAA), plus TXT for policies
 * published in DNS (MTA-STS), with answers as values.
 *
 * Negative answers are distinguished because they mean different things for mail routing
 * (RFC 5321 §5.1): NXDOMAIN means the domain does not exist (permanent), NODATA means the name
 * exists without records of that type (for MX: fall back to the implicit MX), and a server
 * failure or timeout says nothing about the domain (transient).
 *
 * @module
 */

/** One MX record. `exchange` has no trailing dot; the null MX (RFC 7505) has exchange `""`. */
export interface MxRecord {
  readonly preference: number;
  readonly exchange: string;
}

/**
 * What each record type resolves to: MX records, IP addresses in text form, or the text of a
 * TXT record: its character-strings joined without separators (as RFC 7208 §3.3 and
 * RFC 8461 §3.1 read them), decoded as UTF-8.
 */
export interface RecordTypes {
  readonly MX: MxRecord;
  readonly A: string;
  readonly AAAA: string;
  readonly TXT: string;
}

export type RecordType = keyof RecordTypes;

/**
 * The outcome of one lookup. `ttl` is in seconds: how long the answer may be cached
 * (for negative answers, RFC 2308 §5: the SOA's TTL capped by its MINIMUM).
 */
export type DnsAnswer<T> =
  /** At least one record. */
  | { readonly kind: "records"; readonly records: readonly T[]; readonly ttl: number }
  /** The name does not exist (RCODE 3). */
  | { readonly kind: "nxdomain"; readonly ttl: number }
  /** The name exists but has no record of this type (RCODE 0, empty answer). */
  | { readonly kind: "nodata"; readonly ttl: number }
  /** SERVFAIL, REFUSED, timeout, network or format error: says nothing about the name. */
  | { readonly kind: "error"; readonly reason: string };

/** Resolves MX, A, AAAA and TXT records. Implementations never throw for DNS outcomes. */
export interface Resolver {
  resolve<T extends RecordType>(
    name: string,
    type: T,
    signal?: AbortSignal,
  ): Promise<DnsAnswer<RecordTypes[T]>>;
}

/** A name server to query (IPv4 or IPv6 address, port 53 unless given). */
export interface NameServer {
  readonly ipAddr: string;
  readonly port?: number;
}

/** Lower-cases a DNS name and removes the trailing dot of a fully qualified name. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}
