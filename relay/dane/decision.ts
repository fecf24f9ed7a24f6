/**
 * What a TLSA lookup means for one SMTP connection (RFC 7672 §2.2):
 *
 * - `no-dane`: no authentic TLSA records (insecure answer, or authenticated denial): DANE does
 *   not apply, the relay's other TLS policies (MTA-STS, its own) do.
 * - `dane`: usable records: TLS is required, and the server must authenticate with them; a
 *   server that offers no STARTTLS, fails the handshake or does not match is not used.
 * - `unusable`: records exist, none usable: "the SMTP client MUST use TLS" but cannot
 *   authenticate (RFC 7672 §2.2: mandatory unauthenticated TLS, never plaintext): an attacker
 *   could not have published them, so the domain asked for TLS.
 * - `defer`: the lookup failed (SERVFAIL, bogus, timeout): whether records exist is unknown, so
 *   neither plaintext nor unauthenticated TLS may be assumed; do not use this host now (try
 *   another MX host, or retry later).
 *
 * @module
 */
import type { TlsaLookup, TlsaRecord } from "../dns/mod.ts";
import { type SetAside, usableRecords } from "./records.ts";

export type DaneDecision =
  | { readonly kind: "no-dane"; readonly reason: string }
  | {
    readonly kind: "dane";
    /** The TLSA owner name the records came from. */
    readonly tlsaName: string;
    /** The usable records, to authenticate the server with. */
    readonly records: readonly TlsaRecord[];
    /** The records set aside, with reasons (for logs). */
    readonly unusable: readonly SetAside[];
  }
  | {
    readonly kind: "unusable";
    readonly tlsaName: string;
    readonly reason: string;
    readonly unusable: readonly SetAside[];
  }
  | { readonly kind: "defer"; readonly reason: string };

/** The decision for one TLSA lookup. Pure. */
export function decideDane(lookup: TlsaLookup): DaneDecision {
  switch (lookup.kind) {
    case "failed":
      return {
        kind: "defer",
        reason: `TLSA lookup of ${lookup.name} failed, so DANE cannot be ruled out ` +
          `(RFC 7672 §2.2): ${lookup.reason}`,
      };
    case "insecure":
      return { kind: "no-dane", reason: `${lookup.name} has no DNSSEC-validated TLSA answer` };
    case "secure-denial":
      return {
        kind: "no-dane",
        reason: `${lookup.name} has no TLSA records (authenticated ${lookup.denial.toUpperCase()})`,
      };
    case "secure": {
      const { usable, unusable } = usableRecords(lookup.records);
      if (usable.length > 0) {
        return { kind: "dane", tlsaName: lookup.name, records: usable, unusable };
      }
      return {
        kind: "unusable",
        tlsaName: lookup.name,
        reason: `${lookup.name} has TLSA records but none usable for SMTP, so TLS is required ` +
          `without authentication (RFC 7672 §2.2): ${unusable.map((u) => u.reason).join("; ")}`,
        unusable,
      };
    }
  }
}
