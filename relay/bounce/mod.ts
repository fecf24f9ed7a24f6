/**
 * Bounces and complaints coming back: VERP return paths, DSN / ARF / plain-text bounce parsing
 * and classification, and the POP3 poller that records them through a {@link BounceSink}.
 *
 * ```ts ignore
 * const config = bounceConfigSchema.parse(json.bounce);
 * await runBounceLoop(bounceLoopOptions(config, { clock, sink, signal, log }));
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
  type BounceConfig,
  type BounceConfigInput,
  bounceConfigSchema,
  verpConfigSchema,
} from "./config.ts";
export {
  cleanDiagnostic,
  type DeliveryStatus,
  type DsnRecipient,
  parseDeliveryStatus,
} from "./dsn.ts";
export type { BounceEvent, BounceLog } from "./events.ts";
export { bounceLoopOptions, type BouncePorts, verpKeyFromConfig } from "./from_config.ts";
export { type BounceLoopOptions, runBounceLoop } from "./loop.ts";
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
export { type PollCounts, type PollReport, type PollStage } from "./poll_report.ts";
export { pollMailbox, type PollOptions, type Pop3Connector } from "./processor.ts";
export { Secret } from "./secret.ts";
export type { BounceRecord, BounceSink, RecordResult } from "./sink.ts";
export { parseTextBounce, type TextBounce, type TextFailure } from "./text_bounce.ts";
export { decodeVerp, encodeVerp, VERP_TAG_LENGTH, type VerpKey } from "./verp.ts";
