/**
 * TLSA lookups for DANE (RFC 6698 §3, RFC 7672 §2.2): the query name of a service, and the
 * answer sorted into the four cases DANE decides on. Whether the records are usable is the DANE
 * library's business (`relay/dane`); this file only says what DNS said and how sure it is.
 *
 * @module
 */
import { normalizeName, type Resolver, type TlsaRecord } from "./resolver.ts";

/**
 * A TLSA lookup as DANE needs it:
 *
 * - `secure`: records, DNSSEC-validated (the AD bit from a trusted resolver).
 * - `secure-denial`: the name or the type provably does not exist (authenticated NXDOMAIN or
 *   NODATA, RFC 4035 §5.4): DANE does not apply to the host, for sure.
 * - `insecure`: an answer (records or not) that is not known to be authentic: as good as no
 *   records, since an attacker could have forged or stripped it (RFC 7672 §2.2).
 * - `failed`: SERVFAIL (which is how a validating resolver reports bogus data, RFC 4035 §5.5),
 *   a timeout or any other failure: nothing is known, so RFC 7672 §2.2 forbids assuming there
 *   are no records (never fall back to plaintext): the host is not used for now.
 */
export type TlsaLookup =
  | {
    readonly kind: "secure";
    readonly name: string;
    readonly records: readonly TlsaRecord[];
    readonly ttl: number;
  }
  | {
    readonly kind: "secure-denial";
    readonly name: string;
    readonly denial: "nxdomain" | "nodata";
  }
  | { readonly kind: "insecure"; readonly name: string }
  | { readonly kind: "failed"; readonly name: string; readonly reason: string };

/**
 * The TLSA owner name of a TCP service (RFC 6698 §3): `_25._tcp.mx.example.com` for SMTP on
 * port 25 (RFC 7672 §2.2.3: the port is part of the name, so a relay on 587 is another name).
 */
export function tlsaName(host: string, port = 25): string {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`Cannot make a TLSA name as port ${port} is not in 1-65535`);
  }
  return `_${port}._tcp.${normalizeName(host)}`;
}

/** Looks up the TLSA records of `host`'s service on `port` and says how far they are trusted. */
export async function lookupTlsa(
  resolver: Resolver,
  host: string,
  port = 25,
  signal?: AbortSignal,
): Promise<TlsaLookup> {
  const name = tlsaName(host, port);
  const answer = await resolver.resolve(name, "TLSA", signal);
  switch (answer.kind) {
    case "error":
      return { kind: "failed", name, reason: answer.reason };
    case "records":
      return answer.secure
        ? { kind: "secure", name, records: answer.records, ttl: answer.ttl }
        : { kind: "insecure", name };
    case "nxdomain":
    case "nodata":
      return answer.secure
        ? { kind: "secure-denial", name, denial: answer.kind }
        : { kind: "insecure", name };
  }
}
