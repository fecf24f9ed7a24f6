/**
 * The `webhooks` section of the JSON config file (FERRY_CONFIG), as a strict Zod schema: mount it
 * as `webhooks: webhooksSchema.optional()` in relay/config/config.ts. Durations are written `"10s"`.
 *
 * ```json
 * "webhooks": {
 *   "urls": ["https://hooks.example.com/ferry"],
 *   "secret": "a long random string shared with the receiver",
 *   "events": ["delivered", "bounced", "complaint"],
 *   "timeout": "10s"
 * }
 * ```
 *
 * @module
 */
import { z } from "zod";
import { durationSchema } from "../../lib/unit_schemas.ts";

/** A duration written `"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"5d"`, parsed to milliseconds. */
export const durationMs = durationSchema();

/** Every event a webhook can carry. */
export const WEBHOOK_EVENT_TYPES = [
  "delivered",
  "deferred",
  "bounced",
  "expired",
  "complaint",
  "cancelled",
  "suppressed",
  "unsubscribed",
  "alert.raised",
  "alert.resolved",
] as const;
export type WebhookEventType = typeof WEBHOOK_EVENT_TYPES[number];

/** What is sent when `events` is not set. */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEventType[] = [
  "delivered",
  "deferred",
  "bounced",
  "expired",
  "complaint",
  "unsubscribed",
  "alert.raised",
  "alert.resolved",
];

export const webhooksSchema = z.strictObject({
  /** Endpoints; every event goes to each of them. */
  urls: z.array(z.url({ protocol: /^https?$/ })).min(1),
  /** HMAC-SHA256 key of the `Ferry-Signature` header (at least 16 characters). */
  secret: z.string().min(16),
  /** Which events are sent. */
  events: z.array(z.enum(WEBHOOK_EVENT_TYPES)).min(1).default([...DEFAULT_WEBHOOK_EVENTS]),
  /** Deadline of one POST, connection included. */
  timeout: durationSchema(100).prefault("10s"),
  /** POSTs in flight at once, over all endpoints. */
  concurrency: z.number().int().min(1).max(64).default(4),
  /** Attempts before a notification is given up (`failed`). */
  maxAttempts: z.number().int().min(1).max(100).default(12),
  /** Wait before the 2nd attempt; doubles each time, up to `retryMax`. */
  retryBase: durationSchema(100).prefault("30s"),
  retryMax: durationMs.prefault("6h"),
  /** How often new events are looked for when idle. */
  pollInterval: durationSchema(50).prefault("1s"),
  /** Delivered and failed notifications older than this are purged. */
  retention: durationMs.prefault("7d"),
});

export type WebhooksConfig = z.output<typeof webhooksSchema>;
