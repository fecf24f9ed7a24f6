/**
 * The webhook dispatcher: a loop of its own, beside delivery, never in its way.
 *
 * Each pass (1) fans new `ferry.events` rows out into `ferry.webhook_deliveries` (one short
 * transaction, see store.ts), (2) claims due notifications, (3) POSTs them, at most
 * `concurrency` at a time, each under `timeout`, signed with HMAC-SHA256, (4) records the
 * results: delivered, or the next attempt after an exponential backoff, or given up after
 * `maxAttempts`. No transaction is open while a POST is in flight, and delivery code never calls
 * into webhooks: a slow or failing receiver only grows this table.
 *
 * @module
 */
import { type Clock, withTimeout } from "../../lib/clock.ts";
import type { Db } from "../../db/client.ts";
import type { WebhooksConfig } from "./config.ts";
import { SIGNATURE_HEADER, signWebhook } from "./signature.ts";
import {
  type ClaimedWebhook,
  claimWebhooks,
  fanOutEvents,
  initWebhookCursor,
  purgeWebhooks,
  recordWebhookResults,
  type WebhookResult,
} from "./store.ts";

/** What the dispatcher reports through its hook (tests wait on these; main.ts logs them). */
export type WebhookLogEvent =
  | {
    readonly kind: "webhook.attempted";
    readonly id: number;
    readonly url: string;
    readonly attempt: number;
    /** Clock time of the attempt (ms). */
    readonly at: number;
    readonly outcome: "delivered" | "failed";
    readonly status: number | null;
    readonly error?: string;
  }
  | {
    readonly kind: "webhook.pass";
    readonly at: number;
    readonly fannedOut: number;
    readonly attempted: number;
  }
  | { readonly kind: "webhook.loop_failed"; readonly error: string; readonly cause?: unknown };

/** Thrown to skip a pass quietly while the database is away. */
const PAUSED = new Error("paused");

export interface WebhookDispatcherDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly config: WebhooksConfig;
  /** Stops the loop; in-flight POSTs are aborted and fall due again after their lease. */
  readonly signal: AbortSignal;
  readonly fetch?: typeof fetch;
  readonly metrics?: { recordWebhook(result: "delivered" | "retry" | "failed"): void };
  readonly onEvent?: (event: WebhookLogEvent) => void;
  /** How long a missing event id is waited for before the watermark steps over it. */
  readonly gapWaitMs?: number;
  /** Events read per fan-out transaction. */
  readonly batchSize?: number;
  /** While true, passes are skipped (the database is away; one probe elsewhere waits for it). */
  readonly paused?: () => boolean;
}

export interface WebhookDispatcher {
  /** Resolves when the loop has stopped after the signal aborted. */
  readonly done: Promise<void>;
  /** Runs a pass now instead of at the end of the idle wait. */
  wake(): void;
}

const PURGE_EVERY_MS = 3_600_000;

export function startWebhookDispatcher(deps: WebhookDispatcherDeps): WebhookDispatcher {
  const { db, clock, config, signal } = deps;
  const emit = deps.onEvent ?? (() => {});
  const doFetch = deps.fetch ?? fetch;
  const limit = config.concurrency * 4;
  const gaps = new Map<number, number>();
  let idle: AbortController | undefined;

  const sendOne = async (item: ClaimedWebhook): Promise<WebhookResult | undefined> => {
    const body = JSON.stringify(item.payload);
    const at = clock.now();
    let result: WebhookResult;
    try {
      const res = await withTimeout(
        clock,
        config.timeout,
        `webhook POST to ${item.url}`,
        (sig) =>
          doFetch(item.url, {
            method: "POST",
            body,
            redirect: "manual",
            signal: AbortSignal.any([sig, signal]),
            headers: {
              "content-type": "application/json",
              "user-agent": "Ferry-Webhooks/1",
              [SIGNATURE_HEADER]: signWebhook(config.secret, body, Math.floor(at / 1000)),
              "ferry-event-id": item.payload.id,
              "ferry-event-type": item.payload.type,
              "ferry-attempt": String(item.attempt),
            },
          }),
      );
      await res.body?.cancel();
      result = res.ok
        ? { id: item.id, attempt: item.attempt, kind: "delivered", status: res.status }
        : {
          id: item.id,
          attempt: item.attempt,
          kind: "failed",
          status: res.status,
          error: `HTTP ${res.status} ${res.statusText}`.trim(),
        };
    } catch (err) {
      // Stopping: the row falls due again after its lease; nothing to record.
      if (signal.aborted) return undefined;
      const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      result = { id: item.id, attempt: item.attempt, kind: "failed", status: null, error };
    }
    deps.metrics?.recordWebhook(
      result.kind === "delivered"
        ? "delivered"
        : item.attempt >= config.maxAttempts
        ? "failed"
        : "retry",
    );
    emit({
      kind: "webhook.attempted",
      id: item.id,
      url: item.url,
      attempt: item.attempt,
      at,
      outcome: result.kind,
      status: result.status,
      ...(result.kind === "failed" ? { error: result.error } : {}),
    });
    return result;
  };

  const sendAll = async (items: ClaimedWebhook[]): Promise<WebhookResult[]> => {
    const queue = [...items];
    const results: WebhookResult[] = [];
    const worker = async () => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        const r = await sendOne(item);
        if (r) results.push(r);
      }
    };
    await Promise.all(Array.from({ length: Math.min(config.concurrency, items.length) }, worker));
    return results;
  };

  const pass = async (): Promise<boolean> => {
    const fanned = await fanOutEvents(db, {
      urls: config.urls,
      events: config.events,
      now: new Date(clock.now()),
      limit: deps.batchSize ?? 500,
      gapWaitMs: deps.gapWaitMs ?? 10_000,
      gaps,
    });
    const claimed = await claimWebhooks(db, {
      now: new Date(clock.now()),
      limit,
      // Longer than a POST can take, so a row is never sent twice by two passes at once.
      leaseMs: config.timeout + 60_000,
    });
    const results = await sendAll(claimed);
    await recordWebhookResults(db, results, {
      now: new Date(clock.now()),
      policy: config,
    });
    emit({
      kind: "webhook.pass",
      at: clock.now(),
      fannedOut: fanned.rows,
      attempted: results.length,
    });
    return fanned.more || claimed.length === limit;
  };

  const run = async () => {
    let ready = false;
    let lastPurge = clock.now();
    while (!signal.aborted) {
      let busy = false;
      try {
        if (deps.paused?.()) throw PAUSED;
        if (!ready) {
          await initWebhookCursor(db, new Date(clock.now()));
          ready = true;
        }
        busy = await pass();
        if (clock.now() - lastPurge >= PURGE_EVERY_MS) {
          lastPurge = clock.now();
          await purgeWebhooks(db, { before: new Date(clock.now() - config.retention) });
        }
      } catch (err) {
        if (signal.aborted) break;
        if (err !== PAUSED) {
          emit({
            kind: "webhook.loop_failed",
            error: err instanceof Error ? err.message : String(err),
            cause: err,
          });
        }
      }
      if (busy || signal.aborted) continue;
      idle = new AbortController();
      await clock.sleep(config.pollInterval, AbortSignal.any([signal, idle.signal]))
        .catch(() => {});
      idle = undefined;
    }
  };

  return { done: run(), wake: () => idle?.abort() };
}
