/**
 * The DNS port: the smallest surface routing needs (MX, A, AAAA), plus TXT for policies
 * published in DNS (MTA-STS) and TLSA for DANE (RFC 6698), with answers as values.
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
 * One TLSA record (RFC 6698 §2.1), as published: the parameters are kept whatever their value,
 * so the DANE layer can tell "records exist but none is usable" from "no records" (RFC 7672 §2.2).
 */
export interface TlsaRecord {
  /** Certificate usage: 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE (RFC 7218). */
  readonly usage: number;
  /** 0: the full certificate, 1: its SubjectPublicKeyInfo. */
  readonly selector: number;
  /** 0: exact bytes, 1: SHA-256, 2: SHA-512. */
  readonly matchingType: number;
  /** The certificate association data. */
  readonly data: Uint8Array;
}

/**
 * What each record type resolves to: MX records, IP addresses in text form, the text of a
 * TXT record: its character-strings joined without separators (as RFC 7208 §3.3 and
 * RFC 8461 §3.1 read them), decoded as UTF-8, or TLSA records.
 */
export interface RecordTypes {
  readonly MX: MxRecord;
  readonly A: string;
  readonly AAAA: string;
  readonly TXT: string;
  readonly TLSA: TlsaRecord;
}

export type RecordType = keyof RecordTypes;

/**
 * The outcome of one lookup. `ttl` is in seconds: how long the answer may be cached
 * (for negative answers, RFC 2308 §5: the SOA's TTL capped by its MINIMUM).
 *
 * `secure: true` marks an answer DNSSEC-validated by a name server trusted to say so (the AD
 * bit, RFC 4035 §3.2.3, from a server in {@link NameServer.trustAd}'s sense): for records, the
 * records and any CNAMEs leading to them are authentic; for NXDOMAIN and NODATA, the denial of
 * existence is. Absent means "not known to be authentic", which DANE treats as insecure.
 */
export type DnsAnswer<T> =
  /** At least one record. */
  | {
    readonly kind: "records";
    readonly records: readonly T[];
    readonly ttl: number;
    readonly secure?: true;
    /** The name the records are at, when CNAMEs led away from the one asked (RFC 1034 §3.6.2). */
    readonly canonicalName?: string;
  }
  /** The name does not exist (RCODE 3). */
  | { readonly kind: "nxdomain"; readonly ttl: number; readonly secure?: true }
  /** The name exists but has no record of this type (RCODE 0, empty answer). */
  | { readonly kind: "nodata"; readonly ttl: number; readonly secure?: true }
  /** SERVFAIL, REFUSED, timeout, network or format error: says nothing about the name. */
  | { readonly kind: "error"; readonly reason: string };

/** Resolves MX, A, AAAA, TXT and TLSA records. Implementations never throw for DNS outcomes. */
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
  /**
   * The operator declares this server a validating resolver whose AD bit may be believed.
   * Default: true for loopback addresses only (see `trustsAd()`): the AD bit travels without
   * protection, so it means something only from a resolver on this host (RFC 4035 §4.9.3,
   * RFC 7672 §2.1.3).
   */
  readonly trustAd?: boolean;
}

/** Lower-cases a DNS name and removes the trailing dot of a fully qualified name. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}
