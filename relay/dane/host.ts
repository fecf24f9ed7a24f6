/**
 * DANE for one MX host of a route plan (RFC 7672 §2.2): whether it applies, where its TLSA
 * records are, what they mean, and which names a DANE-TA certificate may carry.
 *
 * - Only when the MX answer was DNSSEC-secure (for a domain without MX, its authenticated
 *   NODATA) and so were the host's address records (RFC 7672 §2.2.1, §2.2.2): an insecure link
 *   could have been forged, so records found through it would prove nothing. Static routes are
 *   the operator's choice, not the recipient domain's, and get no DANE.
 * - CNAMEs (RFC 7672 §2.2.3): when the host's secure address lookup went through CNAMEs, the
 *   TLSA records are looked up first at the name they led to, then, if that has none, at the
 *   host name itself. The TLSA base domain is the name the records were found at.
 * - Reference identifiers (RFC 7672 §3.2.3): the TLSA base domain, the MX host name and the
 *   next-hop (recipient) domain; for a domain without MX, its own name and where it led.
 *
 * Simplified: CNAMEs of the next-hop domain itself (an MX lookup that went through an alias) are
 * not followed for reference identifiers; only the domain as given is one.
 *
 * @module
 */
import {
  lookupTlsa,
  normalizeName,
  type Resolver,
  type RouteHost,
  type RoutePlan,
} from "../dns/mod.ts";
import { type DaneDecision, decideDane } from "./decision.ts";

/** The decision for one host, with what the TLS upgrade needs when it is `dane`. */
export type HostDane =
  | Exclude<DaneDecision, { readonly kind: "dane" }>
  | (Extract<DaneDecision, { readonly kind: "dane" }> & {
    /** The name to send as SNI: the TLSA base domain (RFC 7672 §8.1). */
    readonly serverName: string;
    /** Names a DANE-TA certificate may carry, most specific first (RFC 7672 §3.2.3). */
    readonly referenceNames: readonly string[];
  });

/** The parts of a `hosts` route plan this needs. */
export type RouteDnssec = Pick<Extract<RoutePlan, { kind: "hosts" }>, "via" | "mxSecure">;

/**
 * Decides DANE for `host`, one of `plan.hosts`, for mail to `nextHop` (the recipient domain).
 * Looks up TLSA records only when DANE can apply; never throws for DNS outcomes.
 */
export async function daneForHost(
  resolver: Resolver,
  nextHop: string,
  plan: RouteDnssec,
  host: RouteHost,
  signal?: AbortSignal,
): Promise<HostDane> {
  const name = normalizeName(host.name);
  if (plan.via === "static") {
    return { kind: "no-dane", reason: `${name} is a static route, outside DANE` };
  }
  if (!plan.mxSecure) {
    return {
      kind: "no-dane",
      reason: `the MX lookup of ${normalizeName(nextHop)} was not DNSSEC-validated`,
    };
  }
  if (!host.secure) {
    return { kind: "no-dane", reason: `the address records of ${name} were not DNSSEC-validated` };
  }
  const expanded = host.canonicalName ? normalizeName(host.canonicalName) : name;
  let base = expanded;
  let decision = decideDane(await lookupTlsa(resolver, expanded, host.port, signal));
  // Only "nothing there" at the expanded name moves on to the host name itself: records, or a
  // failed lookup, settle it.
  if (decision.kind === "no-dane" && expanded !== name) {
    base = name;
    decision = decideDane(await lookupTlsa(resolver, name, host.port, signal));
  }
  if (decision.kind !== "dane") return decision;
  return {
    ...decision,
    serverName: base,
    referenceNames: [...new Set([base, expanded, name, normalizeName(nextHop)])],
  };
}
