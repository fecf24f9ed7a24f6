/**
 * MTA-STS (RFC 8461) for outbound mail: which policy applies to a recipient domain, and
 * whether an MX host may receive its mail.
 *
 * @module
 */
export { isMxPattern, matchesMxPattern, mxAllowed } from "./mx_pattern.ts";
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
export type { Parsed } from "./result.ts";
