/**
 * The DNS message format (RFC 1035 §4), just enough for a stub resolver asking MX, A, AAAA, TXT
 * and TLSA: encoding one question with an EDNS(0) OPT record (RFC 6891), optionally with the DO
 * bit (RFC 3225), and decoding a response with name compression, CNAME, SOA (for
 * negative-caching TTLs, RFC 2308), the response code and the AD bit (RFC 4035 §3.2.3).
 *
 * @module
 */

export const TYPE_CODE = {
  A: 1,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  OPT: 41,
  TLSA: 52,
} as const;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

const RCODE_NAME: Readonly<Record<number, string>> = {
  0: "NOERROR",
  1: "FORMERR",
  2: "SERVFAIL",
  3: "NXDOMAIN",
  4: "NOTIMP",
  5: "REFUSED",
};

/** `SERVFAIL` for 2, `RCODE 9` for codes without a name here. */
export function rcodeName(rcode: number): string {
  return RCODE_NAME[rcode] ?? `RCODE ${rcode}`;
}

export type RecordData =
  | { readonly kind: "a"; readonly address: string }
  | { readonly kind: "aaaa"; readonly address: string }
  | { readonly kind: "mx"; readonly preference: number; readonly exchange: string }
  | { readonly kind: "cname"; readonly target: string }
  | { readonly kind: "soa"; readonly minimum: number }
  /** A TXT record's character-strings joined without separators, decoded as UTF-8. */
  | { readonly kind: "txt"; readonly text: string }
  /** RFC 6698 §2.1: the three parameters, then the certificate association data. */
  | {
    readonly kind: "tlsa";
    readonly usage: number;
    readonly selector: number;
    readonly matchingType: number;
    readonly data: Uint8Array;
  }
  | { readonly kind: "other" };

export interface ResourceRecord {
  /** Owner name, lower-case, without the trailing dot. */
  readonly name: string;
  readonly type: number;
  /** Seconds; RFC 2181 §8: a value with the top bit set is read as 0. */
  readonly ttl: number;
  readonly data: RecordData;
}

export interface DnsMessage {
  readonly id: number;
  readonly isResponse: boolean;
  readonly truncated: boolean;
  /**
   * The AD bit (RFC 4035 §3.2.3): the server says it validated every RRset in the answer and
   * authority sections with DNSSEC. Worth only as much as the server and the path to it.
   */
  readonly authenticData: boolean;
  readonly rcode: number;
  readonly questions: readonly { readonly name: string; readonly type: number }[];
  readonly answers: readonly ResourceRecord[];
  readonly authority: readonly ResourceRecord[];
}

/** A message that does not follow RFC 1035's format. */
export class DnsFormatError extends Error {
  override readonly name = "DnsFormatError";
  constructor(readonly detail: string) {
    super(`Cannot decode DNS message as ${detail}`);
  }
}

// RFC 1035 §2.3.4 and RFC 2181 §11: labels of 1..63 octets, 255 octets for the whole name.
const MAX_LABEL = 63;
const MAX_NAME = 255;

export interface QueryOptions {
  /** UDP payload size advertised in the OPT record (default 1232). */
  readonly udpPayload?: number;
  /**
   * Set the DO bit (RFC 3225 §3): we understand DNSSEC, so a validating server sets the AD bit
   * in its answer (RFC 6840 §5.7) and may add RRSIGs, which this decoder skips.
   */
  readonly dnssecOk?: boolean;
}

// RFC 3225 §3: DO is the top bit of the 16 flag bits in the OPT record's TTL field.
const DO_BIT = 0x8000;

/**
 * Encodes a standard query with the RD bit set and an OPT record advertising the UDP payload
 * size (1232 avoids IP fragmentation, per the DNS flag day 2020 advice).
 */
export function encodeQuery(
  id: number,
  name: string,
  type: number,
  options: QueryOptions = {},
): Uint8Array {
  const udpPayload = options.udpPayload ?? 1232;
  const qname = encodeName(name);
  const out = new Uint8Array(12 + qname.length + 4 + 11);
  const view = new DataView(out.buffer);
  view.setUint16(0, id & 0xffff);
  view.setUint16(2, 0x0100); // RD: ask the server to recurse
  view.setUint16(4, 1); // QDCOUNT
  view.setUint16(10, 1); // ARCOUNT: the OPT record
  out.set(qname, 12);
  let at = 12 + qname.length;
  view.setUint16(at, type);
  view.setUint16(at + 2, 1); // class IN
  at += 4;
  // OPT pseudo-RR (RFC 6891 §6.1.2): root owner, type 41, CLASS = payload size, TTL = extended
  // RCODE (0), version (0) and flags (DO or nothing), no options.
  out[at] = 0;
  view.setUint16(at + 1, TYPE_CODE.OPT);
  view.setUint16(at + 3, udpPayload);
  view.setUint16(at + 5, 0);
  view.setUint16(at + 7, options.dnssecOk ? DO_BIT : 0);
  view.setUint16(at + 9, 0);
  return out;
}

/** Encodes a name as length-prefixed labels. Throws a RangeError for a name DNS cannot carry. */
export function encodeName(name: string): Uint8Array {
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  const labels = trimmed === "" ? [] : trimmed.split(".");
  const bytes: number[] = [];
  for (const label of labels) {
    if (label.length === 0 || label.length > MAX_LABEL || /[^\x21-\x7e]/.test(label)) {
      throw new RangeError(
        `Cannot encode DNS name ${JSON.stringify(name)} as label ${
          JSON.stringify(label)
        } must be 1-${MAX_LABEL} printable ASCII octets`,
      );
    }
    bytes.push(label.length);
    for (let i = 0; i < label.length; i++) bytes.push(label.charCodeAt(i));
  }
  bytes.push(0);
  if (bytes.length > MAX_NAME) {
    throw new RangeError(
      `Cannot encode DNS name as it must be <= ${MAX_NAME} octets: current length is ${bytes.length}`,
    );
  }
  return Uint8Array.from(bytes);
}

/** Decodes a whole message. Throws {@link DnsFormatError} on anything malformed. */
export function decodeMessage(bytes: Uint8Array): DnsMessage {
  if (bytes.length < 12) throw new DnsFormatError(`it is ${bytes.length} octets, under 12`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = view.getUint16(2);
  const counts = [view.getUint16(4), view.getUint16(6), view.getUint16(8)] as const;
  const reader = { bytes, view, at: 12 };
  const questions: { name: string; type: number }[] = [];
  for (let i = 0; i < counts[0]; i++) {
    const name = readName(reader);
    need(reader, 4);
    questions.push({ name, type: view.getUint16(reader.at) });
    reader.at += 4;
  }
  const answers = readRecords(reader, counts[1]);
  const authority = readRecords(reader, counts[2]);
  return {
    id: view.getUint16(0),
    isResponse: (flags & 0x8000) !== 0,
    truncated: (flags & 0x0200) !== 0,
    authenticData: (flags & 0x0020) !== 0,
    rcode: flags & 0x000f,
    questions,
    answers,
    authority,
  };
}

interface Reader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  at: number;
}

function need(r: Reader, n: number): void {
  if (r.at + n > r.bytes.length) {
    throw new DnsFormatError(`it ends at octet ${r.bytes.length}, inside a field at ${r.at}`);
  }
}

function readRecords(r: Reader, count: number): ResourceRecord[] {
  const out: ResourceRecord[] = [];
  for (let i = 0; i < count; i++) {
    const name = readName(r);
    need(r, 10);
    const type = r.view.getUint16(r.at);
    const rawTtl = r.view.getUint32(r.at + 4);
    const length = r.view.getUint16(r.at + 8);
    r.at += 10;
    need(r, length);
    const end = r.at + length;
    const data = readData(r, type, length);
    r.at = end;
    out.push({ name, type, ttl: rawTtl > 0x7fffffff ? 0 : rawTtl, data });
  }
  return out;
}

function readData(r: Reader, type: number, length: number): RecordData {
  const start = r.at;
  switch (type) {
    case TYPE_CODE.A:
      if (length !== 4) throw new DnsFormatError(`an A record has ${length} octets, not 4`);
      return { kind: "a", address: Array.from(r.bytes.subarray(start, start + 4)).join(".") };
    case TYPE_CODE.AAAA:
      if (length !== 16) throw new DnsFormatError(`an AAAA record has ${length} octets, not 16`);
      return { kind: "aaaa", address: formatIpv6(r.bytes.subarray(start, start + 16)) };
    case TYPE_CODE.MX: {
      need(r, 3);
      const preference = r.view.getUint16(start);
      r.at += 2;
      return { kind: "mx", preference, exchange: readName(r) };
    }
    case TYPE_CODE.CNAME:
      return { kind: "cname", target: readName(r) };
    case TYPE_CODE.SOA: {
      readName(r); // MNAME
      readName(r); // RNAME
      need(r, 20);
      return { kind: "soa", minimum: r.view.getUint32(r.at + 16) };
    }
    case TYPE_CODE.TXT:
      return { kind: "txt", text: readCharacterStrings(r.bytes.subarray(start, start + length)) };
    case TYPE_CODE.TLSA:
      // RFC 6698 §2.1: three one-octet fields, then the association data (copied: the message
      // buffer is not ours to keep).
      if (length < 3) throw new DnsFormatError(`a TLSA record has ${length} octets, under 3`);
      return {
        kind: "tlsa",
        usage: r.bytes[start]!,
        selector: r.bytes[start + 1]!,
        matchingType: r.bytes[start + 2]!,
        data: r.bytes.slice(start + 3, start + length),
      };
    default:
      return { kind: "other" };
  }
}

/**
 * TXT RDATA (RFC 1035 §3.3.14): character-strings, each a length octet and that many octets,
 * filling the RDATA exactly. They are joined before decoding, so a UTF-8 sequence split
 * across two strings survives.
 */
function readCharacterStrings(rdata: Uint8Array): string {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < rdata.length;) {
    const len = rdata[at]!;
    if (at + 1 + len > rdata.length) {
      throw new DnsFormatError(`a TXT character-string of ${len} octets runs past its record`);
    }
    parts.push(rdata.subarray(at + 1, at + 1 + len));
    at += 1 + len;
  }
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  return UTF8.decode(joined);
}

// Not fatal: a stray octet becomes U+FFFD, and the record's consumer judges the text.
const UTF8 = new TextDecoder("utf-8");

/** Reads a possibly compressed name (RFC 1035 §4.1.4), lower-cased, without the root dot. */
function readName(r: Reader): string {
  const labels: string[] = [];
  let at = r.at;
  let jumped = false;
  let octets = 1;
  // Each pointer must go strictly backwards, so a loop of pointers cannot run forever.
  let limit = at;
  for (let steps = 0; steps < 256; steps++) {
    if (at >= r.bytes.length) throw new DnsFormatError(`a name runs past the end at ${at}`);
    const len = r.bytes[at]!;
    if (len === 0) {
      if (!jumped) r.at = at + 1;
      return labels.join(".");
    }
    if ((len & 0xc0) === 0xc0) {
      if (at + 1 >= r.bytes.length) throw new DnsFormatError(`a name pointer is cut at ${at}`);
      const target = ((len & 0x3f) << 8) | r.bytes[at + 1]!;
      if (target >= limit) throw new DnsFormatError(`a name pointer at ${at} does not point back`);
      if (!jumped) r.at = at + 2;
      jumped = true;
      limit = target;
      at = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsFormatError(`label type ${len >> 6} at ${at} is unknown`);
    if (at + 1 + len > r.bytes.length) throw new DnsFormatError(`a label runs past the end`);
    octets += len + 1;
    if (octets > MAX_NAME) throw new DnsFormatError(`a name is longer than ${MAX_NAME} octets`);
    let label = "";
    for (let i = at + 1; i <= at + len; i++) label += String.fromCharCode(r.bytes[i]!);
    labels.push(label.toLowerCase());
    at += 1 + len;
  }
  throw new DnsFormatError("a name has too many labels");
}

/** Formats 16 octets as an IPv6 address in RFC 5952 canonical text form. */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // RFC 5952 §4.2: the longest run (first if tied) of two or more zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}
