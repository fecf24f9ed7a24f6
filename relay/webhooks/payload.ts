/**
 * What a webhook POST carries: one JSON event, the same shape for delivery events (read from
 * `ferry.events`) and alerts.
 *
 * ```json
 * { "id": "evt_1042", "type": "bounced", "created_at": "2026-01-01T10:00:00.000Z",
 *   "data": { "delivery_id": 7, "outbox_id": 3, "recipient": "ada@example.org", ... } }
 * ```
 *
 * `id` is stable across retries: receivers deduplicate on it.
 *
 * @module
 */
import { classify } from "../bounce_parsing/mod.ts";
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "./config.ts";

export interface WebhookEvent {
  readonly id: string;
  readonly type: WebhookEventType;
  /** ISO 8601. */
  readonly created_at: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** A `ferry.events` row joined with its delivery and message, as the fan-out reads it. */
export interface EventRow {
  readonly id: number;
  readonly delivery_id: number;
  readonly outbox_id: number;
  readonly at: Date;
  readonly kind: string;
  readonly recipient: string | null;
  readonly domain: string | null;
  readonly attempts: number | null;
  readonly mx_host: string | null;
  readonly code: number | null;
  readonly enhanced: string | null;
  readonly reply: string | null;
  readonly tls: boolean | null;
  readonly duration_ms: number | null;
  /** The delivery's bounce class (set by a synchronous or asynchronous bounce, a complaint). */
  readonly bounce_class?: string | null;
  readonly metadata: unknown;
}

/** Event kinds whose payload carries a bounce class. */
const CLASSIFIED: readonly string[] = ["bounced", "deferred", "complaint"];

/**
 * The class of a bounced, deferred or complaint event: the one recorded on the delivery when
 * there is one, else classified from the reply like every bounce; null for other kinds.
 */
export function bounceClassOfEvent(row: EventRow): string | null {
  if (!CLASSIFIED.includes(row.kind)) return null;
  if (row.kind !== "deferred" && row.bounce_class) return row.bounce_class;
  if (row.kind === "complaint") return "spam_or_policy";
  if (row.reply === null && row.enhanced === null) return null;
  return classify({
    ...(row.enhanced ? { status: row.enhanced } : {}),
    diagnostic: row.reply ?? "",
    action: row.kind === "deferred" ? "delayed" : "failed",
  }).class;
}

export function isWebhookEventType(kind: string): kind is WebhookEventType {
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(kind);
}

/** The webhook event for a `ferry.events` row; undefined for kinds webhooks do not carry. */
export function eventFromRow(row: EventRow): WebhookEvent | undefined {
  if (!isWebhookEventType(row.kind) || row.kind.startsWith("alert.")) return undefined;
  return {
    id: `evt_${row.id}`,
    type: row.kind,
    created_at: new Date(row.at).toISOString(),
    data: {
      delivery_id: Number(row.delivery_id),
      outbox_id: Number(row.outbox_id),
      recipient: row.recipient,
      domain: row.domain,
      attempts: row.attempts,
      code: row.code,
      enhanced: row.enhanced,
      reply: row.reply,
      bounce_class: bounceClassOfEvent(row),
      mx_host: row.mx_host,
      tls: row.tls,
      duration_ms: row.duration_ms,
      metadata: row.metadata ?? null,
    },
  };
}
