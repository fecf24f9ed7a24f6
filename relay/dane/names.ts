/**
 * The name check of DANE-TA (RFC 7672 §3.2.3, after RFC 6125 §6.4): does a certificate name one
 * of the reference identifiers (the TLSA base domain, the MX host name, the next-hop domain)?
 *
 * - DNS-IDs (subjectAltName dNSName) when the certificate has any; only without them the
 *   subject's common names (RFC 6125 §6.4.4).
 * - Case-insensitive, trailing dot ignored.
 * - A wildcard is honoured only as the whole left-most label, matching exactly one label, and
 *   never directly under a single-label name (`*.com`): RFC 7672 §3.2.3 and RFC 6125 §6.4.3.
 *
 * @module
 */
import type { CertificateFields } from "./der.ts";

/** The names the certificate presents for the check, in the order they were considered. */
export function presentedNames(cert: Pick<CertificateFields, "dnsNames" | "commonNames">) {
  return cert.dnsNames.length > 0 ? cert.dnsNames : cert.commonNames;
}

/** The first reference identifier the certificate matches, or undefined. */
export function matchingName(
  cert: Pick<CertificateFields, "dnsNames" | "commonNames">,
  referenceNames: readonly string[],
): string | undefined {
  const presented = presentedNames(cert).map(canonical);
  return referenceNames.map(canonical).find((ref) => presented.some((p) => nameMatches(p, ref)));
}

/** Whether one presented identifier matches one reference identifier. */
export function nameMatches(presented: string, reference: string): boolean {
  const p = canonical(presented);
  const r = canonical(reference);
  if (p === "" || r === "") return false;
  if (!p.startsWith("*.")) return p === r;
  const parent = p.slice(2);
  // The wildcard must stand for one whole label of a name with at least two labels below it.
  if (!parent.includes(".") || parent.includes("*")) return false;
  const dot = r.indexOf(".");
  return dot > 0 && r.slice(dot + 1) === parent;
}

function canonical(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}
