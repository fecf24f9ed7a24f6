/**
 * Just enough DER (ITU-T X.690 §10) to take a certificate (RFC 5280 §4.1) apart at the fields
 * DANE needs, as the exact bytes the certificate carries: the SubjectPublicKeyInfo that selector 1
 * hashes (RFC 6698 §2.1.2), the subjectAltName dNSNames and the subject's common names for the
 * name check of DANE-TA (RFC 7672 §3.2.3).
 *
 * @module
 */

/** Bytes that are not the DER certificate they claim to be. */
export class CertificateFormatError extends Error {
  override readonly name = "CertificateFormatError";
  constructor(detail: string) {
    super(`Cannot read the certificate as ${detail}`);
  }
}

/** The fields of one certificate that DANE looks at. */
export interface CertificateFields {
  /** The whole certificate (selector 0). */
  readonly der: Uint8Array;
  /** The SubjectPublicKeyInfo element, tag and length included (selector 1). */
  readonly spki: Uint8Array;
  /** subjectAltName dNSName entries, lower-cased (RFC 5280 §4.2.1.6). */
  readonly dnsNames: readonly string[];
  /** The subject's commonName attributes, lower-cased (RFC 6125's CN-ID). */
  readonly commonNames: readonly string[];
}

/** One element: its tag octet and where its contents lie in the buffer. */
interface Element {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

const SEQUENCE = 0x30;
const SET = 0x31;
const OID = 0x06;
const OCTET_STRING = 0x04;
const VERSION = 0xa0; // [0] EXPLICIT
const EXTENSIONS = 0xa3; // [3] EXPLICIT
const DNS_NAME = 0x82; // GeneralName [2] IMPLICIT IA5String

// id-ce-subjectAltName (2.5.29.17) and id-at-commonName (2.5.4.3), content octets only.
const SUBJECT_ALT_NAME = [0x55, 0x1d, 0x11];
const COMMON_NAME = [0x55, 0x04, 0x03];

/** Reads a certificate's DANE-relevant fields; throws {@link CertificateFormatError}. */
export function certificateFields(der: Uint8Array): CertificateFields {
  const cert = expect(der, readElement(der, 0), SEQUENCE, "a Certificate SEQUENCE");
  if (cert.end !== der.length) throw new CertificateFormatError("it has octets after its end");
  const [tbs] = children(der, cert);
  if (!tbs) throw new CertificateFormatError("it has no tbsCertificate");
  const fields = children(der, expect(der, tbs, SEQUENCE, "a tbsCertificate SEQUENCE"));
  // version is optional (absent for v1); serialNumber, signature, issuer, validity, subject
  // and subjectPublicKeyInfo follow in that order (RFC 5280 §4.1).
  const first = fields[0]?.tag === VERSION ? 1 : 0;
  const subject = fields[first + 4];
  const spki = fields[first + 5];
  if (!subject || !spki) throw new CertificateFormatError("its tbsCertificate is too short");
  expect(der, subject, SEQUENCE, "a subject Name");
  expect(der, spki, SEQUENCE, "a SubjectPublicKeyInfo");
  const extensions = fields.slice(first + 6).find((f) => f.tag === EXTENSIONS);
  return {
    der,
    spki: der.subarray(spki.start, spki.end),
    dnsNames: extensions ? subjectAltDnsNames(der, extensions) : [],
    commonNames: commonNames(der, subject),
  };
}

function subjectAltDnsNames(der: Uint8Array, wrapper: Element): string[] {
  const [list] = children(der, wrapper);
  if (!list) return [];
  for (const ext of children(der, expect(der, list, SEQUENCE, "an Extensions SEQUENCE"))) {
    const parts = children(der, expect(der, ext, SEQUENCE, "an Extension"));
    const id = parts[0];
    if (!id || id.tag !== OID || !sameOctets(der, id, SUBJECT_ALT_NAME)) continue;
    // extnID, then critical (a BOOLEAN, optional), then extnValue: an OCTET STRING holding
    // the DER of GeneralNames.
    const value = parts[parts.length - 1];
    if (!value || value.tag !== OCTET_STRING) {
      throw new CertificateFormatError("its subjectAltName has no OCTET STRING value");
    }
    const inner = der.subarray(value.contentStart, value.end);
    const names = expect(inner, readElement(inner, 0), SEQUENCE, "GeneralNames");
    return children(inner, names)
      .filter((n) => n.tag === DNS_NAME)
      .map((n) => ascii(inner.subarray(n.contentStart, n.end)).toLowerCase());
  }
  return [];
}

function commonNames(der: Uint8Array, subject: Element): string[] {
  const out: string[] = [];
  for (const rdn of children(der, subject)) {
    for (const attribute of children(der, expect(der, rdn, SET, "an RDN SET"))) {
      const [type, value] = children(der, expect(der, attribute, SEQUENCE, "an attribute"));
      if (type?.tag === OID && value && sameOctets(der, type, COMMON_NAME)) {
        out.push(directoryString(der.subarray(value.contentStart, value.end), value.tag));
      }
    }
  }
  return out.map((n) => n.toLowerCase());
}

/** DirectoryString (RFC 5280 §4.1.2.4): BMPString is UTF-16BE; the others read as UTF-8. */
function directoryString(bytes: Uint8Array, tag: number): string {
  if (tag === 0x1e) {
    let s = "";
    for (let i = 0; i + 1 < bytes.length; i += 2) {
      s += String.fromCharCode((bytes[i]! << 8) | bytes[i + 1]!);
    }
    return s;
  }
  return new TextDecoder().decode(bytes);
}

function ascii(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function sameOctets(der: Uint8Array, el: Element, octets: readonly number[]): boolean {
  if (el.end - el.contentStart !== octets.length) return false;
  return octets.every((o, i) => der[el.contentStart + i] === o);
}

function expect(der: Uint8Array, el: Element, tag: number, what: string): Element {
  if (el.tag !== tag) {
    throw new CertificateFormatError(
      `${what} was expected at octet ${el.start} (tag 0x${tag.toString(16)}), ` +
        `found tag 0x${el.tag.toString(16)} of ${der.length} octets`,
    );
  }
  return el;
}

/** The elements inside a constructed element, in order. */
function children(der: Uint8Array, parent: Element): Element[] {
  const out: Element[] = [];
  for (let at = parent.contentStart; at < parent.end;) {
    const el = readElement(der, at, parent.end);
    out.push(el);
    at = el.end;
  }
  return out;
}

/** Reads the tag and definite length at `at` (X.690 §8.1.2, §8.1.3; DER forbids indefinite). */
function readElement(der: Uint8Array, at: number, limit = der.length): Element {
  if (at + 2 > limit) throw new CertificateFormatError(`an element at octet ${at} is cut short`);
  const tag = der[at]!;
  if ((tag & 0x1f) === 0x1f) throw new CertificateFormatError(`tag at octet ${at} is multi-octet`);
  let length = der[at + 1]!;
  let contentStart = at + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4) {
      throw new CertificateFormatError(`the length at octet ${at + 1} is not a DER length`);
    }
    if (contentStart + octets > limit) {
      throw new CertificateFormatError(`the length at octet ${at + 1} is cut short`);
    }
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + der[contentStart + i]!;
    contentStart += octets;
  }
  const end = contentStart + length;
  if (end > limit) {
    throw new CertificateFormatError(`an element at octet ${at} runs past its container`);
  }
  return { tag, start: at, contentStart, end };
}
