/**
 * One-click unsubscribe (RFC 8058): signed tokens per recipient and sender domain, the header
 * fields that carry them, the public listener's app, and applying a token (a suppression scoped
 * to the sender domain, an `unsubscribed` event).
 *
 * @module
 */
export {
  type UnsubscribeConfig,
  type UnsubscribeConfigInput,
  type UnsubscribeFileConfig,
  unsubscribeSchema,
} from "./config.ts";
export {
  constantTimeEqual,
  MAX_TOKEN_LENGTH,
  type TokenCheck,
  type UnsubscribeClaims,
  UnsubscribeTokens,
} from "./token.ts";
export { type UnsubscribeHeaderField, unsubscribeHeaders, unsubscribeUrl } from "./headers.ts";
export {
  applyMailtoUnsubscribe,
  type ApplyOutcome,
  applyUnsubscribe,
  type UnsubscribeDeps,
} from "./apply.ts";
export { mailtoAddress, type MailtoDomain, type MailtoRequest, mailtoRequest } from "./mailto.ts";
export { publicApp, type PublicAppOptions } from "./app.ts";
export { type UnsubscribeLogger, type UnsubscribeLogLine } from "./log.ts";
