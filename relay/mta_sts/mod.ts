/**
 * MTA-STS (RFC 8461) for outbound mail: which policy applies to a recipient domain, and
 * whether an MX host may receive its mail.
 *
 * ```ts ignore
 * const mtaSts = new MtaSts({
 *   clock,
 *   lookupTxt: (name, signal) => resolver.resolve(name, "TXT", signal),
 *   fetchPolicy: httpsPolicyFetcher({ clock, caCerts }),
 *   store, // an MtaStsStore: relay/adapters/mta_sts_store.ts keeps it in PostgreSQL
 * });
 * const decision = await mtaSts.policyFor("example.com");
 * if (decision.warning) log(decision.warning); // RFC 8461 §5.1: tell the operator
 * const screen = screenMxHosts(decision, plan.hosts, (h) => h.name);
 * // screen.hosts to try; screen.tls "verified" (enforce), "report" (testing) or "own"
 * // (no policy: the relay's own TLS policy); under enforce, no hosts left means defer.
 * ```
 *
 * @module
 */
export {
  MtaSts,
  type MtaStsDecision,
  type MtaStsOptions,
  type NoPolicyReason,
  type PolicySource,
} from "./policy_source.ts";
export { isMxPattern, matchesMxPattern, mxAllowed } from "./mx_pattern.ts";
export { type MxScreen, screenMxHosts } from "./screen_mx.ts";
export {
  MAX_MAX_AGE_SECONDS,
  parsePolicy,
  STS_MODES,
  type StsMode,
  type StsPolicy,
} from "./policy_file.ts";
export {
  isStsRecord,
  type LookupTxt,
  parseStsRecord,
  selectStsRecord,
  type StsRecord,
  type TxtAnswer,
} from "./txt_record.ts";
export {
  type FetchPolicy,
  httpsPolicyFetcher,
  POLICY_PATH,
  type PolicyFetcherOptions,
} from "./policy_fetcher.ts";
export {
  MemoryMtaStsStore,
  type MtaStsStore,
  type PolicyRecord,
  type StoredPolicy,
} from "./store.ts";
export type { Parsed } from "./result.ts";
export { type PolicyLookup, rememberDecisions } from "./memo.ts";
