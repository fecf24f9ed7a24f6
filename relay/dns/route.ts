/**
 * Routing: from a recipient domain to the ordered list of hosts to try (RFC 5321 §5.1).
 *
 * - A static route (`FERRY_ROUTES`) wins over DNS.
 * - MX records in preference order, equal preferences in random order (§5.1: "the sender-SMTP
 *   MUST randomize them to spread the load").
 * - No MX but the name exists: the implicit MX, the domain's own A/AAAA addresses.
 * - Null MX (`0 .`, RFC 7505) and NXDOMAIN: permanent; SERVFAIL, timeouts: transient.
 *
 * Trying "the next MX host on connection failure" is the caller's loop over `hosts` (or over
 * {@link routeTargets}, one entry per address).
 *
 * With a resolver that reports DNSSEC (`WireResolver` with `dnssec`), the plan says which
 * answers were authentic, which DANE needs (RFC 7672 §2.2.1: TLSA records count only when the
 * MX RRset and the host's address records were secure). The flags are present only when true.
 *
 * @module
 */
import { isIP } from "node:net";
import type { MxRecord, Resolver } from "./resolver.ts";
import { findStaticRoute, NO_ROUTES, type RouteTable } from "./static_routes.ts";

/** One host to try, with every address found for it, in the order to try them. */
export interface RouteHost {
  /** MX exchange, the domain itself (implicit MX) or the static route's host. */
  readonly name: string;
  readonly port: number;
  readonly preference: number;
  readonly addresses: readonly string[];
  /** Every address answer (and denial) for the name was DNSSEC-authentic. */
  readonly secure?: true;
  /** Where CNAMEs led `name`, when they did (RFC 7672 §2.2.3 looks for TLSA there first). */
  readonly canonicalName?: string;
}

export type RoutePlan =
  | {
    readonly kind: "hosts";
    readonly via: "mx" | "implicit-mx" | "static";
    /**
     * The MX answer was DNSSEC-authentic: the MX RRset for `via: "mx"`, its denial (NODATA) for
     * `via: "implicit-mx"`. Never set for static routes.
     */
    readonly mxSecure?: true;
    /** Never empty; every host has at least one address. */
    readonly hosts: readonly RouteHost[];
    /** MX hosts left out because they have no address, and why (for logs). */
    readonly unresolved: readonly { readonly name: string; readonly reason: string }[];
    /**
     * With `via: "static"`: the pattern of the route that matched (`example.com`,
     * `*.example.com`, `*`), so the caller can find what else it configured for that route
     * (TLS, credentials) without this library knowing any of it.
     */
    readonly route?: string;
  }
  /** Bounce now. `status` is the RFC 3463 enhanced status code to report. */
  | { readonly kind: "permanent"; readonly reason: string; readonly status: string }
  /** Retry later. */
  | { readonly kind: "transient"; readonly reason: string; readonly status: string };

/** Returns a number in [0, 1). Injected so tests can fix the order of equal preferences. */
export type Random = () => number;

export type AddressOrder = "ipv6-first" | "ipv4-first" | "ipv6-only" | "ipv4-only";

export interface RouterOptions {
  readonly resolver: Resolver;
  readonly random: Random;
  readonly routes?: RouteTable;
  /** Port of MX hosts (default 25); static routes carry their own. */
  readonly port?: number;
  /** Which address families to use and which first (default "ipv6-first", as RFC 6724). */
  readonly addressOrder?: AddressOrder;
  /** Most MX hosts kept, lowest preferences first (default 10). */
  readonly maxHosts?: number;
}

export interface Router {
  planRoute(domain: string, signal?: AbortSignal): Promise<RoutePlan>;
}

/** One address to connect to: what the caller's "try the next one" loop walks over. */
export interface RouteTarget {
  /** The host name, for EHLO logs, TLS SNI and certificate checks. */
  readonly host: string;
  readonly address: string;
  readonly port: number;
  readonly preference: number;
}

// RFC 3463 / RFC 7505 enhanced status codes for routing outcomes.
const BAD_DESTINATION = "5.1.2";
const NULL_MX = "5.1.10";
const UNABLE_TO_ROUTE = "5.4.4";
const DIRECTORY_FAILURE = "4.4.3";

const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function createRouter(options: RouterOptions): Router {
  const deps: Deps = {
    resolver: options.resolver,
    random: options.random,
    routes: options.routes ?? NO_ROUTES,
    port: options.port ?? 25,
    order: options.addressOrder ?? "ipv6-first",
    maxHosts: options.maxHosts ?? 10,
  };
  return { planRoute: (domain, signal) => planRoute(deps, domain, signal) };
}

/** Flattens a plan's hosts into one entry per address, dropping repeated address:port pairs. */
export function routeTargets(hosts: readonly RouteHost[]): RouteTarget[] {
  const seen = new Set<string>();
  const out: RouteTarget[] = [];
  for (const h of hosts) {
    for (const address of h.addresses) {
      const key = `${address}|${h.port}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ host: h.name, address, port: h.port, preference: h.preference });
    }
  }
  return out;
}

interface Deps {
  readonly resolver: Resolver;
  readonly random: Random;
  readonly routes: RouteTable;
  readonly port: number;
  readonly order: AddressOrder;
  readonly maxHosts: number;
}

type HostLookup =
  | {
    readonly kind: "addresses";
    readonly addresses: readonly string[];
    readonly secure?: true;
    readonly canonicalName?: string;
  }
  /** `definitive`: every family said NXDOMAIN/NODATA; otherwise something may come back. */
  | { readonly kind: "none"; readonly definitive: boolean; readonly reason: string };

async function planRoute(deps: Deps, rawDomain: string, signal?: AbortSignal): Promise<RoutePlan> {
  const domain = rawDomain.trim().toLowerCase().replace(/\.$/, "");
  if (!isDomainName(domain)) {
    return permanent(`${JSON.stringify(rawDomain)} is not a routable domain name`, BAD_DESTINATION);
  }
  const route = findStaticRoute(deps.routes, domain);
  if (route) {
    const found = await lookupHost(deps, route.host, signal);
    if (found.kind === "none") {
      // Our own configuration, not the recipient's domain, is at fault: never bounce for it.
      return transient(
        `static route ${route.pattern} to ${route.host} has no address: ${found.reason}`,
        DIRECTORY_FAILURE,
      );
    }
    const host = { name: route.host, port: route.port, preference: 0, addresses: found.addresses };
    return { kind: "hosts", via: "static", hosts: [host], unresolved: [], route: route.pattern };
  }
  const mx = await deps.resolver.resolve(domain, "MX", signal);
  switch (mx.kind) {
    case "records":
      return withMxSecure(await mxHosts(deps, domain, mx.records, signal), mx.secure);
    case "nxdomain":
      return permanent(`domain ${domain} does not exist (NXDOMAIN)`, BAD_DESTINATION);
    case "error":
      return transient(mx.reason, DIRECTORY_FAILURE);
    case "nodata":
      return withMxSecure(await implicitMx(deps, domain, signal), mx.secure);
  }
}

function withMxSecure(plan: RoutePlan, secure: true | undefined): RoutePlan {
  return plan.kind === "hosts" && secure ? { ...plan, mxSecure: true } : plan;
}

/** A host with its addresses and, when known, their DNSSEC status and canonical name. */
function routeHost(
  name: string,
  port: number,
  preference: number,
  found: Extract<HostLookup, { kind: "addresses" }>,
): RouteHost {
  return {
    name,
    port,
    preference,
    addresses: found.addresses,
    ...(found.secure ? { secure: true as const } : {}),
    ...(found.canonicalName ? { canonicalName: found.canonicalName } : {}),
  };
}

/** RFC 5321 §5.1: no MX records, so the domain itself is the one host, at preference 0. */
async function implicitMx(deps: Deps, domain: string, signal?: AbortSignal): Promise<RoutePlan> {
  const found = await lookupHost(deps, domain, signal);
  if (found.kind === "addresses") {
    const host = routeHost(domain, deps.port, 0, found);
    return { kind: "hosts", via: "implicit-mx", hosts: [host], unresolved: [] };
  }
  if (found.definitive) {
    return permanent(`domain ${domain} has no MX, A or AAAA records`, BAD_DESTINATION);
  }
  return transient(
    `domain ${domain} has no MX and its address lookup failed: ${found.reason}`,
    DIRECTORY_FAILURE,
  );
}

async function mxHosts(
  deps: Deps,
  domain: string,
  records: readonly MxRecord[],
  signal?: AbortSignal,
): Promise<RoutePlan> {
  // RFC 7505 §3: the null MX is the exchange "." (the root). A null MX mixed with real ones
  // is malformed; the real ones are still the best guess at where mail should go.
  const real = records.filter((r) => r.exchange !== "");
  if (real.length === 0) {
    return permanent(`domain ${domain} does not accept mail (null MX, RFC 7505)`, NULL_MX);
  }
  const ordered = orderByPreference(dedupe(real), deps.random).slice(0, deps.maxHosts);
  const lookups = await Promise.all(ordered.map((r) => lookupHost(deps, r.exchange, signal)));
  const hosts: RouteHost[] = [];
  const unresolved: { name: string; reason: string }[] = [];
  ordered.forEach((record, i) => {
    const found = lookups[i]!;
    if (found.kind === "addresses") {
      hosts.push(routeHost(record.exchange, deps.port, record.preference, found));
    } else unresolved.push({ name: record.exchange, reason: found.reason });
  });
  if (hosts.length > 0) return { kind: "hosts", via: "mx", hosts, unresolved };
  const why = unresolved.map((u) => u.reason).join("; ");
  const definitive = lookups.every((l) => l.kind === "none" && l.definitive);
  return definitive
    ? permanent(`no MX host of ${domain} has an address: ${why}`, UNABLE_TO_ROUTE)
    : transient(`no MX host of ${domain} could be resolved: ${why}`, DIRECTORY_FAILURE);
}

/** Keeps each exchange once, at its best (lowest) preference. */
function dedupe(records: readonly MxRecord[]): MxRecord[] {
  const best = new Map<string, MxRecord>();
  for (const r of records) {
    const seen = best.get(r.exchange);
    if (!seen || r.preference < seen.preference) best.set(r.exchange, r);
  }
  return [...best.values()];
}

/** Sorts by preference and shuffles each group of equal preference (Fisher-Yates). */
export function orderByPreference(records: readonly MxRecord[], random: Random): MxRecord[] {
  const groups = new Map<number, MxRecord[]>();
  for (const r of records) groups.set(r.preference, [...(groups.get(r.preference) ?? []), r]);
  const out: MxRecord[] = [];
  for (const preference of [...groups.keys()].sort((a, b) => a - b)) {
    const group = groups.get(preference)!;
    for (let i = group.length - 1; i > 0; i--) {
      const j = Math.min(i, Math.floor(random() * (i + 1)));
      [group[i], group[j]] = [group[j]!, group[i]!];
    }
    out.push(...group);
  }
  return out;
}

async function lookupHost(deps: Deps, name: string, signal?: AbortSignal): Promise<HostLookup> {
  if (isIP(name) !== 0) {
    const family = isIP(name) === 6 ? "v6" : "v4";
    if (
      (deps.order === "ipv4-only" && family === "v6") ||
      (deps.order === "ipv6-only" && family === "v4")
    ) {
      return { kind: "none", definitive: true, reason: `${name} is excluded by ${deps.order}` };
    }
    return { kind: "addresses", addresses: [name] };
  }
  const wantV6 = deps.order !== "ipv4-only";
  const wantV4 = deps.order !== "ipv6-only";
  const [v6, v4] = await Promise.all([
    wantV6 ? deps.resolver.resolve(name, "AAAA", signal) : undefined,
    wantV4 ? deps.resolver.resolve(name, "A", signal) : undefined,
  ]);
  const six = v6?.kind === "records" ? v6.records : [];
  const four = v4?.kind === "records" ? v4.records : [];
  const addresses = deps.order === "ipv4-first" || deps.order === "ipv4-only"
    ? [...four, ...six]
    : [...six, ...four];
  const answers = [v6, v4].filter((a) => a !== undefined);
  if (addresses.length > 0) {
    // A family that failed contributes no address, so it cannot make the others less
    // authentic; every answer that did come (records or a denial) must be.
    const came = answers.filter((a) => a.kind !== "error");
    const secure = came.every((a) => a.secure === true);
    const canonicalName = answers
      .map((a) => (a.kind === "records" ? a.canonicalName : undefined))
      .find((n) => n !== undefined);
    return {
      kind: "addresses",
      addresses,
      ...(secure ? { secure: true as const } : {}),
      ...(canonicalName ? { canonicalName } : {}),
    };
  }
  // Only NXDOMAIN and NODATA are final: an error says nothing about the name.
  const definitive = answers.every((a) => a.kind === "nxdomain" || a.kind === "nodata");
  const reasons = answers.map((a) => (a.kind === "error" ? a.reason : a.kind));
  return { kind: "none", definitive, reason: `${name}: ${[...new Set(reasons)].join(", ")}` };
}

function isDomainName(name: string): boolean {
  return name.length > 0 && name.length <= 253 &&
    name.split(".").every((label) => LDH_LABEL.test(label));
}

function permanent(reason: string, status: string): RoutePlan {
  return { kind: "permanent", reason, status };
}

function transient(reason: string, status: string): RoutePlan {
  return { kind: "transient", reason, status };
}
