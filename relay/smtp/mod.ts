/**
 * Ferry's SMTP client (RFC 5321 and its extensions): a session over an injected stream that
 * sends many messages over one connection and classifies every outcome per recipient. It knows
 * nothing about queues, retries or DNS.
 *
 * ```ts
 * const opened = await connectSmtp("mx.example.net", 25, { clock, heloName: "relay.example.org" });
 * if (opened.kind === "ready") {
 *   const outcomes = await opened.session.send({ mailFrom, recipients, message });
 *   await opened.session.quit();
 * }
 * ```
 *
 * @module
 */
export {
  boundConnect,
  type ConnectOptions,
  type Connector,
  connectSmtp,
  denoConnect,
} from "./connect.ts";
export { type OpenResult, openSession } from "./handshake.ts";
export type { SessionOptions } from "./options.ts";
export { type SessionInfo, SmtpSession } from "./session.ts";
export type { Envelope } from "./envelope.ts";
export { addressProblem, mailCommand, needsSmtpUtf8 } from "./envelope.ts";
export { requireTlsRefusal, type SessionSecurity } from "./preflight.ts";
export type { Credentials } from "./auth.ts";
export { type Capabilities, HELO_CAPABILITIES, parseEhlo } from "./capabilities.ts";
export {
  type Delivered,
  deliveredFrom,
  describeOutcome,
  type Failure,
  failureFrom,
  localPermanent,
  localTransient,
  type Outcome,
  type Permanent,
  type RecipientOutcome,
  type Scope,
  type Transient,
} from "./outcome.ts";
export {
  formatReply,
  makeReply,
  MAX_REPLY_LINE,
  MAX_REPLY_LINES,
  parseReply,
  type Reply,
  ReplyAssembler,
  type ReplyStep,
  replyText,
} from "./reply.ts";
export { retryAfterFromText } from "./retry_hint.ts";
export {
  THROTTLE_SIGNATURES,
  type ThrottleReply,
  type ThrottleScope,
  type ThrottleSignature,
  throttleSignature,
} from "./throttle.ts";
export {
  crlfContent,
  encodeData,
  MAX_LINE_LENGTH,
  type MessageScan,
  scanMessage,
} from "./data_encoder.ts";
export { writeChunks } from "./data_writer.ts";
export { DEFAULT_TIMEOUTS, type Phase, resolveTimeouts, type SmtpTimeouts } from "./timeouts.ts";
export { REDACTED, type TraceEvent, type TraceHook } from "./trace.ts";
export type { ByteStream, StartTls, TlsPolicy } from "../tls/mod.ts";
