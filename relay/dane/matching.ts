/**
 * Whether a TLSA record's association data matches a certificate (RFC 6698 §2.1.2, §2.1.3):
 * the selector picks the bytes (the whole certificate, or its SubjectPublicKeyInfo as encoded in
 * the certificate), the matching type says how to compare them (as they are, or their SHA-256 or
 * SHA-512 digest).
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { TlsaRecord } from "../dns/mod.ts";
import type { CertificateFields } from "./der.ts";
import { MATCHING, SELECTOR } from "./records.ts";

/** Whether `record` designates `cert`. Records with unknown parameters match nothing. */
export function recordMatches(record: TlsaRecord, cert: CertificateFields): boolean {
  const got = association(record, cert);
  // Certificates and TLSA data are public: a plain comparison will do.
  return got !== undefined && got.length === record.data.length &&
    got.every((b, i) => b === record.data[i]);
}

/** What the record's data would have to be for `cert`, or undefined for unknown parameters. */
export function association(record: TlsaRecord, cert: CertificateFields): Uint8Array | undefined {
  const selected = record.selector === SELECTOR.CERT
    ? cert.der
    : record.selector === SELECTOR.SPKI
    ? cert.spki
    : undefined;
  if (!selected) return undefined;
  switch (record.matchingType) {
    case MATCHING.EXACT:
      return selected;
    case MATCHING.SHA256:
      return new Uint8Array(createHash("sha256").update(selected).digest());
    case MATCHING.SHA512:
      return new Uint8Array(createHash("sha512").update(selected).digest());
    default:
      return undefined;
  }
}
