/**
 * The durable side of webhooks, in `ferry.webhook_deliveries` and `ferry.webhook_cursor`
 * (migration 0002): fan-out of new `ferry.events` rows by id watermark, the claim of due
 * notifications, their results with backoff, retention. Free functions taking the db first; the
 * statements themselves are db/webhooks.ts's, this module decides what they write.
 *
 * ## Why a watermark needs a grace period
 *
 * Identity values are handed out when a row is inserted, not when its transaction commits, so
 * event 11 can become visible before event 10. Advancing the watermark past a missing id could
 * skip event 10 for ever. The fan-out therefore stops at the first missing id and only steps
 * over it once it has stayed missing for `gapWaitMs` (a rolled-back insert leaves a gap that
 * never fills).
 *
 * @module
 */
import type { Db } from "../../db/client.ts";
import {
  advanceWebhookCursor,
  claimWebhookDeliveries,
  eventsForWebhooks,
  insertWebhookDeliveries,
  lockWebhookCursor,
  updateWebhookDeliveries,
} from "../../db/webhooks.ts";
import { eventFromRow, type EventRow, type WebhookEvent } from "./payload.ts";
import { webhookRetryDelay } from "./schedule.ts";

export { initWebhookCursor, purgeWebhooks, webhookBacklog } from "../../db/webhooks.ts";

export interface Endpoints {
  readonly urls: readonly string[];
  readonly events: readonly string[];
}

export interface FanOutOptions extends Endpoints {
  readonly now: Date;
  readonly limit: number;
  readonly gapWaitMs: number;
  /** First missing id of a gap → when it was first seen (ms); kept by the caller across calls. */
  readonly gaps: Map<number, number>;
}

export interface FanOutResult {
  /** Events the watermark moved past. */
  readonly events: number;
  /** Notifications created. */
  readonly rows: number;
  /** The watermark is held at a missing id, waiting for its transaction to commit. */
  readonly waitingOnGap: boolean;
  /** A full batch was read: call again at once. */
  readonly more: boolean;
}

/** Turns the next events into notifications, one per endpoint, in one short transaction. */
export async function fanOutEvents(db: Db, o: FanOutOptions): Promise<FanOutResult> {
  return await db.transaction().execute(async (tx) => {
    const from = await lockWebhookCursor(tx);
    if (from === undefined) return { events: 0, rows: 0, waitingOnGap: false, more: false };
    const rows = await eventsForWebhooks(tx, from, o.limit);
    const accepted = acceptContiguous(from, rows, o);
    const upTo = Number(accepted.at(-1)?.id ?? from);
    for (const key of o.gaps.keys()) if (key <= upTo) o.gaps.delete(key);
    const items = accepted.flatMap((row) => {
      const event = eventFromRow(row);
      return event && o.events.includes(event.type) ? [{ eventId: Number(row.id), event }] : [];
    });
    const created = await insertNotifications(tx, o.urls, items, o.now);
    const last = accepted.at(-1);
    if (last) await advanceWebhookCursor(tx, Number(last.id), o.now);
    return {
      events: accepted.length,
      rows: created,
      waitingOnGap: accepted.length < rows.length,
      more: rows.length === o.limit && accepted.length === rows.length,
    };
  });
}

/** The prefix of `rows` without an unexpired gap (see the module documentation). */
function acceptContiguous(from: number, rows: readonly EventRow[], o: FanOutOptions): EventRow[] {
  const now = o.now.getTime();
  let expected = from + 1;
  const out: EventRow[] = [];
  for (const row of rows) {
    const id = Number(row.id);
    if (id > expected) {
      const seen = o.gaps.get(expected);
      if (seen === undefined) o.gaps.set(expected, now);
      if (seen === undefined || now - seen < o.gapWaitMs) break;
    }
    out.push(row);
    expected = id + 1;
  }
  return out;
}

async function insertNotifications(
  db: Db,
  urls: readonly string[],
  items: readonly { readonly eventId: number | null; readonly event: WebhookEvent }[],
  now: Date,
): Promise<number> {
  const rows = items.flatMap(({ eventId, event }) =>
    urls.map((url) => ({ eventId, eventType: event.type, url, payload: event }))
  );
  return await insertWebhookDeliveries(db, rows, now);
}

/**
 * Queues events that are not rows of `ferry.events` (alerts, or anything the caller builds)
 * for every endpoint whose filter takes them. Returns the notifications created.
 */
export async function enqueueWebhookEvents(
  db: Db,
  endpoints: Endpoints,
  events: readonly WebhookEvent[],
  now: Date,
): Promise<number> {
  const wanted = events.filter((e) => endpoints.events.includes(e.type));
  return await insertNotifications(
    db,
    endpoints.urls,
    wanted.map((event) => ({ eventId: null, event })),
    now,
  );
}

/** A notification handed to the dispatcher. */
export interface ClaimedWebhook {
  readonly id: number;
  readonly url: string;
  readonly eventType: string;
  readonly payload: WebhookEvent;
  /** Attempts including this one. */
  readonly attempt: number;
}

/**
 * Claims due notifications by pushing their due time past the lease: no "sending" state, so a
 * dispatcher that dies mid-POST leaves rows that simply fall due again.
 */
export async function claimWebhooks(
  db: Db,
  o: { readonly now: Date; readonly limit: number; readonly leaseMs: number },
): Promise<ClaimedWebhook[]> {
  // Every payload was written by insertNotifications from a WebhookEvent.
  return (await claimWebhookDeliveries(db, o)).map((r) => ({
    ...r,
    payload: r.payload as WebhookEvent,
  }));
}

export type WebhookResult =
  | { readonly id: number; readonly attempt: number; readonly kind: "delivered"; status: number }
  | {
    readonly id: number;
    readonly attempt: number;
    readonly kind: "failed";
    readonly status: number | null;
    readonly error: string;
  };

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly retryBase: number;
  readonly retryMax: number;
}

/** Writes results: delivered, or the next attempt after the backoff, or given up. */
export async function recordWebhookResults(
  db: Db,
  results: readonly WebhookResult[],
  o: { readonly now: Date; readonly policy: RetryPolicy },
): Promise<void> {
  await updateWebhookDeliveries(
    db,
    results.map((r) => {
      if (r.kind === "delivered") {
        return { id: r.id, status: "delivered", next: o.now, code: r.status, error: null };
      }
      const giveUp = r.attempt >= o.policy.maxAttempts;
      const wait = webhookRetryDelay(r.attempt, {
        baseMs: o.policy.retryBase,
        maxMs: o.policy.retryMax,
      });
      return {
        id: r.id,
        status: giveUp ? "failed" : "pending",
        next: giveUp ? o.now : new Date(o.now.getTime() + wait),
        code: r.status,
        error: r.error.slice(0, 1000),
      };
    }),
    o.now,
  );
}
