/**
 * The `_smtp._tls.<domain>` TXT record (RFC 8460 §3): where a policy domain wants its reports.
 *
 * ```
 * v=TLSRPTv1; rua=mailto:reports@example.com,https://reporting.example.com/v1/tlsrpt
 * ```
 *
 * @module
 */
import type { Resolver } from "../dns/mod.ts";

/** A reporting address of the `rua` field. */
export type ReportUri =
  /** Reports by mail (RFC 8460 §5.3) to these addresses (RFC 6068 allows several). */
  | { readonly kind: "mailto"; readonly uri: string; readonly addresses: readonly string[] }
  /** Reports by HTTPS POST (RFC 8460 §5.4). */
  | { readonly kind: "https"; readonly uri: string };

/** A parsed record: the addresses Ferry can send to, and those it cannot (other schemes). */
export interface TlsRptRecord {
  readonly rua: readonly ReportUri[];
  readonly unsupported: readonly string[];
}

export type TlsRptRecordResult =
  | { readonly ok: true; readonly record: TlsRptRecord }
  | { readonly ok: false; readonly reason: string };

// §3: records that do not begin with "v=TLSRPTv1;" are discarded; field-delim allows blanks.
const PREFIX = /^v=TLSRPTv1[ \t]*;/;
const EXT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
const EXT_VALUE = /^[\x21-\x3a\x3c\x3e-\x7e]+$/;
// RFC 3986 URI characters (percent-encoded octets included); §3 requires "," and "!" encoded.
const URI_CHARS = /^[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?#[\]@$&'()*+;=%]+$/;
const ADDRESS = /^[^\s@<>(),;:"\\]+@[A-Za-z0-9.-]+$/;

/** Whether a TXT record is meant as a TLSRPT record (the others are skipped, §3). */
export function isTlsRptRecord(text: string): boolean {
  return PREFIX.test(text);
}

/**
 * Picks and parses the one TLSRPT record among the TXT records of `_smtp._tls.<domain>` (each
 * already joined from its strings, as §3 says). None, more than one, or one that does not
 * parse: the domain does not take reports (§3, "senders MUST assume...").
 */
export function selectTlsRptRecord(records: readonly string[]): TlsRptRecordResult {
  const candidates = records.filter(isTlsRptRecord);
  if (candidates.length === 0) return fail("no TXT record begins with 'v=TLSRPTv1;'");
  if (candidates.length > 1) {
    return fail(`${candidates.length} TXT records begin with 'v=TLSRPTv1;', one is allowed`);
  }
  return parseTlsRptRecord(candidates[0]!);
}

/** Parses one record against §3's grammar; unknown fields are ignored, as §3 requires. */
export function parseTlsRptRecord(text: string): TlsRptRecordResult {
  const parts = text.split(";").map((p) => p.replace(/^[ \t]+|[ \t]+$/g, ""));
  if (parts[0] !== "v=TLSRPTv1" || /^[ \t]/.test(text)) {
    return fail(`the record must begin with 'v=TLSRPTv1': ${JSON.stringify(text)}`);
  }
  // A trailing delimiter is allowed: it leaves one empty part at the end.
  const fields = parts.at(-1) === "" ? parts.slice(1, -1) : parts.slice(1);
  let rua: string | undefined;
  for (const field of fields) {
    const eq = field.indexOf("=");
    const name = eq < 0 ? field : field.slice(0, eq);
    const value = eq < 0 ? "" : field.slice(eq + 1);
    if (name === "rua") {
      rua ??= value; // the first occurrence counts
      continue;
    }
    if (!EXT_NAME.test(name) || !EXT_VALUE.test(value)) {
      return fail(`field ${JSON.stringify(field)} is not name=value`);
    }
  }
  if (rua === undefined) return fail("the record has no rua field");
  const uris = rua.split(",").map((u) => u.replace(/^[ \t]+|[ \t]+$/g, ""));
  const out: ReportUri[] = [];
  const unsupported: string[] = [];
  for (const uri of uris) {
    if (!URI_CHARS.test(uri)) return fail(`rua ${JSON.stringify(uri)} is not a URI`);
    const parsed = reportUri(uri);
    if (parsed === "unsupported") unsupported.push(uri);
    else if (typeof parsed === "string") return fail(parsed);
    else out.push(parsed);
  }
  return { ok: true, record: { rua: out, unsupported } };
}

function reportUri(uri: string): ReportUri | "unsupported" | string {
  const scheme = uri.slice(0, uri.indexOf(":")).toLowerCase();
  if (scheme === "mailto") {
    // RFC 6068 §2: mailto:addr-spec *("," addr-spec) [ "?" hfields ]; a header field such as
    // ?subject= is ignored: the report's own Subject is prescribed (RFC 8460 §5.3).
    const to = uri.slice("mailto:".length).split("?")[0]!;
    let decoded: string;
    try {
      decoded = decodeURIComponent(to);
    } catch {
      return `rua ${JSON.stringify(uri)} has a malformed percent-encoding`;
    }
    const addresses = decoded.split(",").map((a) => a.trim()).filter((a) => a !== "");
    if (addresses.length === 0 || !addresses.every((a) => ADDRESS.test(a))) {
      return `rua ${JSON.stringify(uri)} is not a mailto: URI with an address`;
    }
    return { kind: "mailto", uri, addresses };
  }
  if (scheme === "https") {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      return `rua ${JSON.stringify(uri)} is not a valid https: URL`;
    }
    if (url.hostname === "" || url.username !== "" || url.password !== "") {
      return `rua ${JSON.stringify(uri)} is not an https: URL with a host and no credentials`;
    }
    return { kind: "https", uri };
  }
  return "unsupported";
}

/** What the lookup of a domain's record found. */
export type TlsRptLookup =
  | { readonly kind: "record"; readonly record: TlsRptRecord }
  /** The domain takes no reports: no record, several, or one that does not parse. */
  | { readonly kind: "none"; readonly reason: string }
  /** DNS failed (SERVFAIL, timeout): nothing is known; ask again later. */
  | { readonly kind: "error"; readonly reason: string };

/** Looks up and parses `_smtp._tls.<domain>`'s record (`domain` in A-labels). */
export async function lookupTlsRpt(
  resolver: Resolver,
  domain: string,
  signal?: AbortSignal,
): Promise<TlsRptLookup> {
  const name = `_smtp._tls.${domain}`;
  let answer;
  try {
    answer = await resolver.resolve(name, "TXT", signal);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    return { kind: "error", reason: `TXT ${name}: ${err instanceof Error ? err.message : err}` };
  }
  if (answer.kind === "error") return { kind: "error", reason: `TXT ${name}: ${answer.reason}` };
  if (answer.kind !== "records") return { kind: "none", reason: `TXT ${name}: ${answer.kind}` };
  const parsed = selectTlsRptRecord(answer.records);
  if (!parsed.ok) return { kind: "none", reason: `TXT ${name}: ${parsed.reason}` };
  if (parsed.record.rua.length === 0) {
    return {
      kind: "none",
      reason: `TXT ${name}: no mailto: or https: address in rua (${
        parsed.record.unsupported.join(", ")
      })`,
    };
  }
  return { kind: "record", record: parsed.record };
}

function fail(reason: string): TlsRptRecordResult {
  return { ok: false, reason };
}
