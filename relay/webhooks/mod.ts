/**
 * Webhooks: signed HTTP POSTs of delivery events and alerts, retried with backoff from a
 * durable table, dispatched by a loop of their own so delivery is never slowed down.
 *
 * @module
 */
export {
  DEFAULT_WEBHOOK_EVENTS,
  durationMs,
  WEBHOOK_EVENT_TYPES,
  type WebhookEventType,
  type WebhooksConfig,
  webhooksSchema,
} from "./config.ts";
export {
  startWebhookDispatcher,
  type WebhookDispatcher,
  type WebhookDispatcherDeps,
  type WebhookLogEvent,
} from "./dispatcher.ts";
export { eventFromRow, type WebhookEvent } from "./payload.ts";
export { webhookRetryDelay } from "./schedule.ts";
export {
  SIGNATURE_HEADER,
  type SignatureCheck,
  signWebhook,
  verifyWebhookSignature,
} from "./signature.ts";
export { enqueueWebhookEvents, fanOutEvents, purgeWebhooks, webhookBacklog } from "./store.ts";
export { type WebhookSink, webhookSink } from "./sink.ts";
export { type WebhookLogLine, webhookLogLine } from "./log.ts";
