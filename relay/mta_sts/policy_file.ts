/**
 * The policy file served at `https://mta-sts.<domain>/.well-known/mta-sts.txt`
 * (RFC 8461 §3.2): `key: value` lines ended by LF or CRLF, `version: STSv1` first, then `mode`,
 * `max_age` and one or more `mx`, in any order. Unknown keys are ignored; a missing or invalid
 * required field makes the whole file invalid.
 *
 * @module
 */
import { isMxPattern } from "./mx_pattern.ts";
import { fail, ok, type Parsed } from "./result.ts";

export const STS_MODES = ["enforce", "testing", "none"] as const;
/** `enforce`: deliver only to matching MX hosts over verified TLS; `testing`: report only. */
export type StsMode = typeof STS_MODES[number];

/** The longest lifetime a policy may ask for: about one year (§3.2). */
export const MAX_MAX_AGE_SECONDS = 31_557_600;

export interface StsPolicy {
  readonly mode: StsMode;
  /** Patterns, lower-cased: host names, or `*.` and a domain (§4.1). Empty only for `none`. */
  readonly mx: readonly string[];
  /** Seconds the policy may be cached, from its fetch. */
  readonly maxAge: number;
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
// A value: visible characters (UTF-8 allowed), inner spaces only.
const VALUE =
  /^[\x21-\x7e\u{80}-\u{10ffff}](?:[\x20-\x7e\u{80}-\u{10ffff}]*[\x21-\x7e\u{80}-\u{10ffff}])?$/u;
const MAX_AGE = /^[0-9]{1,10}$/;

/** Parses a policy file's text. */
export function parsePolicy(text: string): Parsed<StsPolicy> {
  const fields: [string, string][] = [];
  for (const raw of text.split("\n")) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (/^[ \t]*$/.test(line)) continue; // the final line end leaves one; blank lines are harmless
    const colon = line.indexOf(":");
    const key = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!KEY.test(key) || !VALUE.test(value)) {
      return fail(`line ${JSON.stringify(line)} is not 'key: value'`);
    }
    fields.push([key, value]);
  }
  const first = fields[0];
  if (first?.[0] !== "version") return fail("the first field must be 'version'");
  if (first[1] !== "STSv1") return fail(`version ${JSON.stringify(first[1])} is not STSv1`);
  // Single-valued fields: the first occurrence counts. Keys are case-sensitive (§3.2's %s).
  const single = (key: string) => fields.find(([k]) => k === key)?.[1];

  const mode = single("mode");
  if (mode === undefined) return fail("the policy has no mode field");
  if (!(STS_MODES as readonly string[]).includes(mode)) {
    return fail(`mode ${JSON.stringify(mode)} is not enforce, testing or none`);
  }
  const maxAgeText = single("max_age");
  if (maxAgeText === undefined) return fail("the policy has no max_age field");
  if (!MAX_AGE.test(maxAgeText)) {
    return fail(`max_age ${JSON.stringify(maxAgeText)} is not 1 to 10 digits`);
  }
  const maxAge = Number(maxAgeText);
  if (maxAge > MAX_MAX_AGE_SECONDS) {
    return fail(`max_age ${maxAge} is over the limit of ${MAX_MAX_AGE_SECONDS} seconds`);
  }
  const mx = fields.filter(([k]) => k === "mx").map(([, v]) => v.toLowerCase());
  const bad = mx.find((p) => !isMxPattern(p));
  if (bad !== undefined) return fail(`mx ${JSON.stringify(bad)} is not a host name or *.domain`);
  // A "none" policy withdraws a domain's policy and need not list hosts.
  if (mx.length === 0 && mode !== "none") return fail(`a ${mode} policy needs at least one mx`);
  return ok({ mode: mode as StsMode, mx: [...new Set(mx)], maxAge });
}
