/**
 * MX patterns of a policy (RFC 8461 §4.1): a host name, or `*.` and a domain, where the
 * wildcard stands for exactly one leftmost label: `*.example.com` matches `mx1.example.com`,
 * not `example.com` and not `a.mx1.example.com`.
 *
 * @module
 */

// RFC 5321's Domain: labels of letters, digits and inner hyphens, 63 octets at most.
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Whether `name` is a host name as RFC 5321 writes one (no trailing dot, <= 253 octets). */
export function isHostName(name: string): boolean {
  return name.length > 0 && name.length <= 253 &&
    name.toLowerCase().split(".").every((label) => LABEL.test(label));
}

/** Whether `pattern` is a valid `mx` value of a policy: a host name, optionally after `*.`. */
export function isMxPattern(pattern: string): boolean {
  return isHostName(pattern.startsWith("*.") ? pattern.slice(2) : pattern);
}

/** Whether the MX host `mxHost` (any case, trailing dot or not) matches `pattern`. */
export function matchesMxPattern(pattern: string, mxHost: string): boolean {
  const host = normalizeHost(mxHost);
  const p = pattern.toLowerCase();
  if (!p.startsWith("*.")) return host === p;
  const dot = host.indexOf(".");
  return dot > 0 && host.slice(dot + 1) === p.slice(2);
}

/**
 * Whether a policy lets mail go to `mxHost`: it matches one of the policy's patterns. Under
 * `enforce` a host that does not match must not be used (§4.2); under `testing` it is used and
 * the mismatch only reported.
 */
export function mxAllowed(policy: { readonly mx: readonly string[] }, mxHost: string): boolean {
  return policy.mx.some((pattern) => matchesMxPattern(pattern, mxHost));
}

function normalizeHost(host: string): string {
  const lower = host.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}
