/**
 * TLSA records for test certificates, computed the way a zone operator would (the SPKI as
 * exported by the crypto library, not by the code under test).
 *
 * @module
 */
import { createHash, X509Certificate } from "node:crypto";
import type { TlsaRecord } from "../../../relay/dns/mod.ts";

/** The TLSA record `usage selector matchingType` designating `der`. */
export function tlsaFor(
  usage: number,
  selector: number,
  matchingType: number,
  der: Uint8Array,
): TlsaRecord {
  const selected = selector === 0 ? der : new Uint8Array(
    new X509Certificate(der).publicKey.export({ type: "spki", format: "der" }),
  );
  const data = matchingType === 0 ? selected : new Uint8Array(
    createHash(matchingType === 1 ? "sha256" : "sha512").update(selected).digest(),
  );
  return { usage, selector, matchingType, data };
}
