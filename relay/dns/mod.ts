/**
 * DNS and routing: the {@link Resolver} port with its real implementations
 * ({@link WireResolver}), a TTL cache,
 * static routes (`FERRY_ROUTES`) and {@link createRouter}'s `planRoute(domain)`.
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
} from "./resolver.ts";
export { normalizeName } from "./resolver.ts";
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
