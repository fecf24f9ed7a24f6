/**
 * Static routes that bypass MX lookup: the table, and a parser of the plain `FERRY_ROUTES` syntax
 * (relay/config reads the real variable, with its TLS suffixes, and the config file's routes,
 * then builds this table with {@link buildRouteTable}; what a route says beyond host and port,
 * credentials included, never enters this library). The syntax: comma separated
 * `domain=host:port` (that domain), `*.suffix=host:port` (every name under suffix, not suffix
 * itself), `*=host:port` (a smarthost for everything else). The host is a name, an IPv4
 * address or a bracketed IPv6 address (`[::1]:2525`); the port defaults to 25.
 * An exact domain beats a suffix, a longer suffix beats a shorter one, and `*` comes last.
 *
 * @module
 */
import { isIP } from "node:net";
import { domainToASCII } from "node:url";

export interface StaticRoute {
  /** The pattern that matched: `example.com`, `*.example.com` or `*`. */
  readonly pattern: string;
  /** Host name (lower-case) or IP address (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
}

export interface RouteTable {
  readonly exact: ReadonlyMap<string, StaticRoute>;
  /** Keyed by the suffix without `*.`. */
  readonly suffixes: ReadonlyMap<string, StaticRoute>;
  readonly fallback: StaticRoute | undefined;
}

export type RoutesResult =
  | { readonly ok: true; readonly table: RouteTable }
  | { readonly ok: false; readonly reason: string };

export const NO_ROUTES: RouteTable = { exact: new Map(), suffixes: new Map(), fallback: undefined };

const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Parses a `FERRY_ROUTES` value. Empty or absent means no routes. The first bad entry makes
 * the whole value invalid, with a reason that quotes the entry and says what is wrong.
 */
export function parseRoutes(text: string | undefined, source = "FERRY_ROUTES"): RoutesResult {
  const routes: StaticRoute[] = [];
  const entries = (text ?? "").split(",").map((e) => e.trim()).filter((e) => e !== "");
  for (const entry of entries) {
    const parsed = parseEntry(entry);
    if (typeof parsed === "string") {
      return {
        ok: false,
        reason: `Cannot use ${source} entry ${JSON.stringify(entry)} as ${parsed}`,
      };
    }
    routes.push(parsed);
  }
  return buildRouteTable(routes, source);
}

/**
 * Builds the lookup table from routes parsed elsewhere (e.g. relay/config/config.ts's `Route[]`,
 * which has the same shape). Patterns are matched case-insensitively; a pattern given twice
 * makes the table invalid.
 */
export function buildRouteTable(
  routes: readonly StaticRoute[],
  source = "FERRY_ROUTES",
): RoutesResult {
  const exact = new Map<string, StaticRoute>();
  const suffixes = new Map<string, StaticRoute>();
  let fallback: StaticRoute | undefined;
  for (const given of routes) {
    const route = { ...given, pattern: normalize(given.pattern) };
    const { pattern } = route;
    const table = pattern === "*" ? undefined : pattern.startsWith("*.") ? suffixes : exact;
    const key = pattern.startsWith("*.") ? pattern.slice(2) : pattern;
    if (table ? table.has(key) : fallback !== undefined) {
      return {
        ok: false,
        reason: `Cannot use ${source} entry ${
          JSON.stringify(`${given.pattern}=${hostText(given.host)}:${given.port}`)
        } as '${pattern}' is routed twice`,
      };
    }
    if (table) table.set(key, route);
    else fallback = route;
  }
  return { ok: true, table: { exact, suffixes, fallback } };
}

/** The route for a domain (A-label form), or undefined when it goes by MX. */
export function findStaticRoute(table: RouteTable, domain: string): StaticRoute | undefined {
  const name = normalize(domain);
  const exact = table.exact.get(name);
  if (exact) return exact;
  // Walk up from the most specific parent: a.b.example.com tries b.example.com, example.com, com.
  for (let dot = name.indexOf("."); dot >= 0; dot = name.indexOf(".", dot + 1)) {
    const route = table.suffixes.get(name.slice(dot + 1));
    if (route) return route;
  }
  return table.fallback;
}

/** Parses one entry, or returns what is wrong with it. */
function parseEntry(entry: string): StaticRoute | string {
  const eq = entry.indexOf("=");
  if (eq < 0) return "it must have the form domain=host:port: found no '='";
  const rawPattern = entry.slice(0, eq).trim();
  const pattern = parsePattern(rawPattern);
  if (pattern === undefined) {
    return `the domain ${JSON.stringify(rawPattern)} must be a domain name, '*.suffix' or '*'`;
  }
  const target = parseTarget(entry.slice(eq + 1).trim());
  if (typeof target === "string") return target;
  return { pattern, ...target };
}

function parsePattern(raw: string): string | undefined {
  if (raw === "*") return "*";
  if (raw.startsWith("*.")) {
    const suffix = toDomain(raw.slice(2));
    return suffix === undefined ? undefined : `*.${suffix}`;
  }
  return toDomain(raw);
}

function parseTarget(raw: string): { host: string; port: number } | string {
  if (raw === "") return "the host is missing after '='";
  let host: string;
  let portText: string | undefined;
  if (raw.startsWith("[")) {
    const close = raw.indexOf("]");
    if (close < 0) return `the IPv6 address in ${JSON.stringify(raw)} has no closing ']'`;
    host = raw.slice(1, close);
    if (isIP(host) !== 6) return `${JSON.stringify(host)} inside [] must be an IPv6 address`;
    const rest = raw.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) {
      return `only ':port' may follow the ']' of an IPv6 address: found ${JSON.stringify(rest)}`;
    }
    portText = rest === "" ? undefined : rest.slice(1);
  } else {
    const colons = raw.split(":").length - 1;
    if (colons > 1) return "an IPv6 address must be written in brackets, as in [::1]:2525";
    [host, portText] = colons === 1 ? raw.split(":") as [string, string] : [raw, undefined];
    if (isIP(host) !== 4) {
      const name = toDomain(host);
      if (name === undefined) {
        return `the host ${JSON.stringify(host)} must be a name or an IP address`;
      }
      host = name;
    }
  }
  const port = portText === undefined ? 25 : parsePort(portText);
  if (typeof port === "string") return port;
  return { host, port };
}

function parsePort(text: string): number | string {
  if (!/^\d{1,5}$/.test(text)) return `the port must be a number: found ${JSON.stringify(text)}`;
  const port = Number(text);
  if (port < 1 || port > 65535) return `the port must be 1-65535: found ${port}`;
  return port;
}

/** Lower-case A-label form of a (possibly internationalised) domain, or undefined if invalid. */
function toDomain(raw: string): string | undefined {
  const name = normalize(raw);
  const ascii = /[^\x20-\x7e]/.test(name) ? domainToASCII(name) : name;
  if (!ascii || ascii.length > 253) return undefined;
  return ascii.split(".").every((label) => LDH_LABEL.test(label)) ? ascii : undefined;
}

function hostText(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

function normalize(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}
