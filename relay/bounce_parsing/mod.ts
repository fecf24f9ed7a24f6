/**
 * Reading bounces and complaints: DSN (RFC 3464), ARF (RFC 5965) and plain-text bounce
 * parsing, enhanced status codes (RFC 3463) and their classification, and VERP return paths.
 * A library: it knows nothing of mailboxes, queues or the database (relay/bounce_processing
 * uses it).
 *
 * ```ts ignore
 * const report = await parseBounce(raw, { verp: key });
 * ```
 *
 * @module
 */
export { type FeedbackReport, parseFeedbackReport } from "./arf.ts";
export {
  type Classification,
  classify,
  type ClassifyInput,
  classOfStatus,
  classOfText,
} from "./classify.ts";
export {
  cleanDiagnostic,
  type DeliveryStatus,
  type DsnRecipient,
  parseDeliveryStatus,
} from "./dsn.ts";
export { findVerpId, matchKeys, messageId } from "./match.ts";
export type {
  Bounce,
  BounceClass,
  BounceOutcome,
  BounceReport,
  Complaint,
  MatchKeys,
  Unrecognised,
} from "./outcome.ts";
export { parseBounce, type ParseBounceOptions } from "./parse_bounce.ts";
export { parseTextBounce, type TextBounce, type TextFailure } from "./text_bounce.ts";
export { decodeVerp, encodeVerp, VERP_TAG_LENGTH, type VerpKey } from "./verp.ts";
