/**
 * The `_mta-sts.<domain>` TXT record (RFC 8461 §3.1): `v=STSv1; id=<1-32 letters or digits>;`,
 * extension fields allowed and ignored.
 *
 * @module
 */
import { fail, ok, type Parsed } from "./result.ts";

/** What the record says: the policy's id, which changes whenever the policy does. */
export interface StsRecord {
  readonly id: string;
}

// §3.1 discards the records that do not begin with "v=STSv1;". The grammar's delimiter allows
// blanks before the ";", so "v=STSv1 ;" counts as a beginning too.
const STS_PREFIX = /^v=STSv1[ \t]*;/;
const EXT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
const EXT_VALUE = /^[\x21-\x3a\x3c\x3e-\x7e]+$/;
const ID = /^[A-Za-z0-9]{1,32}$/;

/** The answer of a TXT lookup; `DnsAnswer<string>` of relay/dns fits it as it is. */
export type TxtAnswer =
  | { readonly kind: "records"; readonly records: readonly string[] }
  | { readonly kind: "nxdomain" | "nodata" }
  | { readonly kind: "error"; readonly reason: string };

/** Looks up the TXT records of `name`, each joined from its strings. Never rejects for DNS. */
export type LookupTxt = (name: string, signal?: AbortSignal) => Promise<TxtAnswer>;

/** Whether a TXT record is meant as an MTA-STS record (the others are skipped, §3.1). */
export function isStsRecord(text: string): boolean {
  return STS_PREFIX.test(text);
}

/**
 * Picks and parses the one MTA-STS record among the TXT records of `_mta-sts.<domain>`
 * (each already joined from its strings). None, or more than one, is no usable record (§3.1).
 */
export function selectStsRecord(records: readonly string[]): Parsed<StsRecord> {
  const candidates = records.filter(isStsRecord);
  if (candidates.length === 0) return fail("no TXT record begins with 'v=STSv1;'");
  if (candidates.length > 1) {
    return fail(`${candidates.length} TXT records begin with 'v=STSv1;', one is allowed`);
  }
  return parseStsRecord(candidates[0]!);
}

/** Parses one record's text against §3.1's grammar. */
export function parseStsRecord(text: string): Parsed<StsRecord> {
  const parts = text.split(";").map((p) => p.replace(/^[ \t]+|[ \t]+$/g, ""));
  if (parts[0] !== "v=STSv1" || /^[ \t]/.test(text)) {
    return fail(`the record must begin with 'v=STSv1': ${JSON.stringify(text)}`);
  }
  // A trailing delimiter is allowed: it leaves one empty part at the end.
  const fields = parts.at(-1) === "" ? parts.slice(1, -1) : parts.slice(1);
  let id: string | undefined;
  for (const field of fields) {
    const eq = field.indexOf("=");
    const name = eq < 0 ? field : field.slice(0, eq);
    const value = eq < 0 ? "" : field.slice(eq + 1);
    if (!EXT_NAME.test(name) || !EXT_VALUE.test(value)) {
      return fail(`field ${JSON.stringify(field)} is not name=value`);
    }
    if (name !== "id") continue; // unknown fields are ignored (§3.1)
    if (!ID.test(value)) return fail(`id ${JSON.stringify(value)} must be 1-32 letters or digits`);
    id ??= value; // the first occurrence counts
  }
  if (id === undefined) return fail("the record has no id field");
  return ok({ id });
}
