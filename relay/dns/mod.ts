/**
 * DNS and routing: the {@link Resolver} port with its real implementations
 * ({@link WireResolver}, optionally asking for DNSSEC), a TTL cache,
 * static routes (`FERRY_ROUTES`), {@link createRouter}'s `planRoute(domain)`, and TLSA
 * lookups for DANE ({@link lookupTlsa}).
 *
 * @module
 */
export type {
  DnsAnswer,
  MxRecord,
  NameServer,
  RecordType,
  RecordTypes,
  Resolver,
  TlsaRecord,
} from "./resolver.ts";
export { normalizeName } from "./resolver.ts";
export { isLoopback, trustsAd } from "./trusts_ad.ts";
export { lookupTlsa, type TlsaLookup, tlsaName } from "./tlsa.ts";
export { WireResolver, type WireResolverOptions } from "./wire_resolver.ts";
export { loadSystemNameServers, parseResolvConf } from "./system_name_servers.ts";
export { CachingResolver, type DnsCacheOptions } from "./cache.ts";
export {
  buildRouteTable,
  findStaticRoute,
  NO_ROUTES,
  parseRoutes,
  type RoutesResult,
  type RouteTable,
  type StaticRoute,
} from "./static_routes.ts";
export {
  type AddressOrder,
  createRouter,
  orderByPreference,
  type Random,
  type RouteHost,
  type RoutePlan,
  type Router,
  type RouterOptions,
  type RouteTarget,
  routeTargets,
} from "./route.ts";
