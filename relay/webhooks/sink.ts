/**
 * The port other loops use to send their own events (alerts) as webhooks: bound to the
 * database, the configured endpoints and the clock once, by the composition root (relay/composition).
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import type { Db } from "../../db/client.ts";
import type { WebhooksConfig } from "./config.ts";
import type { WebhookEvent } from "./payload.ts";
import { enqueueWebhookEvents } from "./store.ts";

export interface WebhookSink {
  /** Queues the events for every endpoint whose filter takes them; returns the rows created. */
  enqueue(events: readonly WebhookEvent[]): Promise<number>;
}

export function webhookSink(
  db: Db,
  config: Pick<WebhooksConfig, "urls" | "events">,
  clock: Clock,
): WebhookSink {
  return {
    enqueue: (events) => enqueueWebhookEvents(db, config, events, new Date(clock.now())),
  };
}
