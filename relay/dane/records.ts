/**
 * Which TLSA records SMTP can use (RFC 7672 §3.1, RFC 6698 §2.1, RFC 7671 §9), and how to name a
 * record in a log line.
 *
 * - Usages 3 DANE-EE and 2 DANE-TA are usable. 0 PKIX-TA and 1 PKIX-EE are not: an MTA has no
 *   agreed set of public CAs to check against (RFC 7672 §3.1.3).
 * - Selectors 0 (full certificate) and 1 (SubjectPublicKeyInfo); matching types 0 (exact),
 *   1 (SHA-256) and 2 (SHA-512). Anything else is unknown, hence unusable (RFC 6698 §4.1).
 * - A digest of the wrong length, or exact data that does not parse as what the selector names,
 *   can never match, so it is unusable too.
 * - Digest agility (RFC 7671 §9): where SHA-512 records exist for a usage and selector, the
 *   SHA-256 ones for the same pair are set aside, so a downgrade to the weaker digest is not
 *   possible.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createPublicKey, X509Certificate } from "node:crypto";
import type { TlsaRecord } from "../dns/mod.ts";

export const USAGE = { PKIX_TA: 0, PKIX_EE: 1, DANE_TA: 2, DANE_EE: 3 } as const;
export const SELECTOR = { CERT: 0, SPKI: 1 } as const;
export const MATCHING = { EXACT: 0, SHA256: 1, SHA512: 2 } as const;

/** A record left out, and why. */
export interface SetAside {
  readonly record: TlsaRecord;
  readonly reason: string;
}

export interface RecordSort {
  /** The records to authenticate with. */
  readonly usable: readonly TlsaRecord[];
  /** The others, each with its reason (for logs and TLS reports). */
  readonly unusable: readonly SetAside[];
}

/** Sorts a TLSA RRset into usable and unusable records. */
export function usableRecords(records: readonly TlsaRecord[]): RecordSort {
  const usable: TlsaRecord[] = [];
  const unusable: SetAside[] = [];
  for (const record of records) {
    const why = unusableBecause(record);
    if (why) unusable.push({ record, reason: `${describeRecord(record)}: ${why}` });
    else usable.push(record);
  }
  const strong = new Set(
    usable.filter((r) => r.matchingType === MATCHING.SHA512).map((r) => `${r.usage} ${r.selector}`),
  );
  const kept = usable.filter((r) =>
    r.matchingType !== MATCHING.SHA256 || !strong.has(`${r.usage} ${r.selector}`)
  );
  for (const record of usable) {
    if (kept.includes(record)) continue;
    unusable.push({
      record,
      reason: `${describeRecord(record)}: SHA-512 records exist for usage ${record.usage} ` +
        `selector ${record.selector}, so SHA-256 ones are set aside (RFC 7671 §9)`,
    });
  }
  return { usable: kept, unusable };
}

/** Why one record is unusable for SMTP, or undefined when it is usable. */
export function unusableBecause(record: TlsaRecord): string | undefined {
  switch (record.usage) {
    case USAGE.DANE_TA:
    case USAGE.DANE_EE:
      break;
    case USAGE.PKIX_TA:
    case USAGE.PKIX_EE:
      return `usage ${record.usage} (PKIX-${record.usage === 0 ? "TA" : "EE"}) is not used ` +
        "for SMTP (RFC 7672 §3.1.3)";
    default:
      return `certificate usage ${record.usage} is unknown`;
  }
  if (record.selector !== SELECTOR.CERT && record.selector !== SELECTOR.SPKI) {
    return `selector ${record.selector} is unknown`;
  }
  switch (record.matchingType) {
    case MATCHING.SHA256:
      return record.data.length === 32
        ? undefined
        : `a SHA-256 digest has 32 octets, not ${record.data.length}`;
    case MATCHING.SHA512:
      return record.data.length === 64
        ? undefined
        : `a SHA-512 digest has 64 octets, not ${record.data.length}`;
    case MATCHING.EXACT:
      return exactDataProblem(record);
    default:
      return `matching type ${record.matchingType} is unknown`;
  }
}

/** Exact data must be a certificate (selector 0) or a public key (selector 1) to ever match. */
function exactDataProblem(record: TlsaRecord): string | undefined {
  try {
    if (record.selector === SELECTOR.CERT) new X509Certificate(record.data);
    else createPublicKey({ key: Buffer.from(record.data), format: "der", type: "spki" });
    return undefined;
  } catch {
    const what = record.selector === SELECTOR.CERT ? "a certificate" : "a SubjectPublicKeyInfo";
    return `its data is not ${what}`;
  }
}

/** `3 1 1 1a2b3c4d5e6f…`: the parameters and the start of the data, for messages. */
export function describeRecord(record: TlsaRecord): string {
  const hex = toHex(record.data.subarray(0, 8));
  return `${record.usage} ${record.selector} ${record.matchingType} ${hex}${
    record.data.length > 8 ? "…" : ""
  }`;
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
