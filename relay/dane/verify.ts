/**
 * DANE authentication of an SMTP server's certificate chain (RFC 7672 §3, RFC 7671 §5), given
 * the chain it presented and the usable TLSA records:
 *
 * - DANE-EE (3): the leaf matches the record, and that is all: no name check, no validity
 *   period, no chain (RFC 7672 §3.1.1, RFC 7671 §5.1): the DNSSEC-signed record is the identity.
 * - DANE-TA (2): a certificate the server sent (RFC 7671 §5.2.2: it must send its trust anchor)
 *   matches the record, the leaf chains up to it with valid signatures through certificates it
 *   sent, every certificate on that path is within its validity period, and the leaf names one
 *   of the reference identifiers (RFC 7672 §3.1.2, §3.2.3).
 *
 * One matching record authenticates the peer. Every record that did not match says why.
 *
 * @module
 */
import { X509Certificate } from "node:crypto";
import type { TlsaRecord } from "../dns/mod.ts";
import { type CertificateFields, certificateFields } from "./der.ts";
import { association, recordMatches } from "./matching.ts";
import { matchingName, presentedNames } from "./names.ts";
import { describeRecord, MATCHING, SELECTOR, toHex, usableRecords, USAGE } from "./records.ts";

export interface VerifyOptions {
  /**
   * Names a DANE-TA leaf must carry one of (RFC 7672 §3.2.3): the TLSA base domain, the MX host
   * name, the next-hop domain. DANE-EE ignores names.
   */
  readonly referenceNames: readonly string[];
  /** The time to check validity periods against (DANE-TA only), ms since the epoch. */
  readonly now: number;
}

export type DaneVerification =
  | {
    readonly ok: true;
    readonly usage: "DANE-EE" | "DANE-TA";
    readonly record: TlsaRecord;
    /** For DANE-TA: the reference identifier the leaf matched. */
    readonly name?: string;
  }
  | {
    readonly ok: false;
    /** One line per record (and per unreadable certificate), saying why it did not match. */
    readonly reasons: readonly string[];
  };

/** A certificate both ways: its DER fields, and Node's view for signatures and dates. */
interface Parsed {
  readonly fields: CertificateFields;
  readonly x509: X509Certificate;
}

// Deeper than any real chain; bounds the path search below.
const MAX_DEPTH = 8;

/** Checks `chain` (DER, leaf first, as presented) against the TLSA `records`. */
export function verifyDane(
  chain: readonly Uint8Array[],
  records: readonly TlsaRecord[],
  options: VerifyOptions,
): DaneVerification {
  const { usable, unusable } = usableRecords(records);
  const reasons = unusable.map((u) => u.reason);
  if (usable.length === 0) return { ok: false, reasons: [...reasons, "no usable TLSA record"] };
  const parsed: (Parsed | undefined)[] = chain.map((der, depth) => {
    try {
      return { fields: certificateFields(der), x509: new X509Certificate(der) };
    } catch (err) {
      reasons.push(`certificate ${depth} of the chain is unreadable: ${message(err)}`);
      return undefined;
    }
  });
  const leaf = parsed[0];
  if (!leaf) {
    const why = chain.length === 0
      ? "the server presented no certificate"
      : "its leaf is unreadable";
    return { ok: false, reasons: [...reasons, why] };
  }
  const issuers = parsed.slice(1).filter((p): p is Parsed => p !== undefined);
  for (const record of usable) {
    const outcome = record.usage === USAGE.DANE_EE
      ? checkEndEntity(record, leaf)
      : checkTrustAnchor(record, leaf, issuers, options);
    if (typeof outcome !== "string") return { ok: true, record, ...outcome };
    reasons.push(`${describeRecord(record)}: ${outcome}`);
  }
  return { ok: false, reasons };
}

type Match = { readonly usage: "DANE-EE" | "DANE-TA"; readonly name?: string };

function checkEndEntity(record: TlsaRecord, leaf: Parsed): Match | string {
  if (recordMatches(record, leaf.fields)) return { usage: "DANE-EE" };
  return `does not match the leaf certificate (its ${selected(record)} is ${
    shortHex(association(record, leaf.fields))
  })`;
}

function checkTrustAnchor(
  record: TlsaRecord,
  leaf: Parsed,
  issuers: readonly Parsed[],
  options: VerifyOptions,
): Match | string {
  const anchors = issuers.filter((c) => recordMatches(record, c.fields));
  // A full certificate in DNS (2 0 0) can serve as the anchor even if the server left it out.
  const fromDns = record.selector === SELECTOR.CERT && record.matchingType === MATCHING.EXACT
    ? parse(record.data)
    : undefined;
  if (fromDns && !anchors.some((a) => a.x509.fingerprint256 === fromDns.x509.fingerprint256)) {
    anchors.push(fromDns);
  }
  if (anchors.length === 0) {
    return "no certificate the server sent above its leaf matches it (the server must send " +
      "its trust anchor, RFC 7671 §5.2.2)";
  }
  const failures: string[] = [];
  for (const anchor of anchors) {
    const path = pathTo(leaf, anchor, issuers, 0);
    if (!path) {
      failures.push(
        `the leaf does not chain to the matching ${anchor.x509.subject} ` +
          "(no issuer with a valid signature)",
      );
      continue;
    }
    const dates = validityProblem([leaf, ...path], options.now);
    if (dates) {
      failures.push(dates);
      continue;
    }
    const name = matchingName(leaf.fields, options.referenceNames);
    if (!name) {
      failures.push(
        `the leaf names none of ${options.referenceNames.join(", ") || "(none)"} ` +
          `(it presents ${presentedNames(leaf.fields).join(", ") || "no name"})`,
      );
      continue;
    }
    return { usage: "DANE-TA", name };
  }
  return failures.join("; ");
}

/** The issuers from `cert` up to `anchor`, anchor last; undefined when there is no such path. */
function pathTo(
  cert: Parsed,
  anchor: Parsed,
  pool: readonly Parsed[],
  depth: number,
): Parsed[] | undefined {
  if (issued(anchor, cert)) return [anchor];
  if (depth >= MAX_DEPTH) return undefined;
  for (const candidate of pool) {
    if (candidate === anchor || !issued(candidate, cert)) continue;
    const rest = pathTo(candidate, anchor, pool.filter((c) => c !== candidate), depth + 1);
    if (rest) return [candidate, ...rest];
  }
  return undefined;
}

/** Whether `issuer` is a CA whose name and key signed `cert`. */
function issued(issuer: Parsed, cert: Parsed): boolean {
  if (issuer === cert || !issuer.x509.ca) return false;
  try {
    return cert.x509.checkIssued(issuer.x509) && cert.x509.verify(issuer.x509.publicKey);
  } catch {
    return false; // an algorithm the library cannot check is a signature we cannot accept
  }
}

/** RFC 7672 §3.1.2: under DANE-TA the usual checks apply, validity periods included. */
function validityProblem(path: readonly Parsed[], now: number): string | undefined {
  for (const { x509 } of path) {
    if (now < x509.validFromDate.getTime()) {
      return `${x509.subject} is not valid before ${x509.validFromDate.toISOString()}`;
    }
    if (now > x509.validToDate.getTime()) {
      return `${x509.subject} expired at ${x509.validToDate.toISOString()}`;
    }
  }
  return undefined;
}

function parse(der: Uint8Array): Parsed | undefined {
  try {
    return { fields: certificateFields(der), x509: new X509Certificate(der) };
  } catch {
    return undefined;
  }
}

function selected(record: TlsaRecord): string {
  const what = record.selector === SELECTOR.CERT ? "certificate" : "SubjectPublicKeyInfo";
  return record.matchingType === MATCHING.SHA256
    ? `${what} SHA-256`
    : record.matchingType === MATCHING.SHA512
    ? `${what} SHA-512`
    : what;
}

function shortHex(bytes: Uint8Array | undefined): string {
  if (!bytes) return "unknown";
  return `${toHex(bytes.subarray(0, 8))}${bytes.length > 8 ? "…" : ""}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
