/**
 * Evaluates the alert rules every `interval` on the injected clock. A change raises a typed
 * event (returned by `evaluate()` and passed to `onAlert`), flips `ferry_alert_active` and
 * queues an `alert.raised` / `alert.resolved` webhook.
 *
 * A smarthost route that starts or stops refusing AUTH (`smarthostAuth()`) is evaluated at once,
 * not at the next interval: every attempt until then defers mail. Evaluations never overlap, so
 * one change is never reported twice.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import type { Db } from "../../db/client.ts";
import { eventCounts, oldestWaitingSince } from "../../db/admin_stats.ts";
import type { WebhookEvent } from "../webhooks/mod.ts";
import type { AlertsConfig } from "./alert_config.ts";
import {
  type ActiveAlert,
  type AlertEvent,
  type AlertInputs,
  alertKey,
  evaluateAlerts,
} from "./alerts.ts";
import { type SmarthostAuthReport, SmarthostAuthState } from "./smarthost_auth.ts";

/**
 * The smallest view of the live actors the monitor needs: which destinations are unreachable
 * and since when. The admin API's live-state provider satisfies it as it is.
 */
export interface UnreachableDomains {
  domainState(): PromiseLike<readonly LiveReachability[]> | readonly LiveReachability[];
}

export interface LiveReachability {
  readonly domain: string;
  readonly unreachableSince?: Date | null;
}

export interface AlertMonitorDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly config: AlertsConfig;
  readonly domains?: UnreachableDomains;
  readonly metrics?: {
    setAlertActive(alert: string, active: boolean, domain?: string): void;
  };
  readonly onAlert?: (event: AlertEvent) => void;
  /** Where alert webhooks go (see `webhookSink` in relay/webhooks). */
  readonly webhooks?: { enqueue(events: readonly WebhookEvent[]): Promise<unknown> };
  /** An evaluation failed (database down...); the loop goes on. */
  readonly onError?: (err: unknown) => void;
}

export interface AlertMonitor {
  /** Measures, compares with the previous evaluation, reports and returns the changes. */
  evaluate(): Promise<AlertEvent[]>;
  /** Alerts raised now. */
  active(): ActiveAlert[];
  /**
   * How an AUTH through a smarthost route went (the deliverer's port, wired by the composition
   * root). A route that starts or stops failing is evaluated at once. Never throws.
   */
  smarthostAuth(event: SmarthostAuthReport): void;
  /** Evaluates every `interval` until the signal aborts. */
  run(signal: AbortSignal): Promise<void>;
}

export function createAlertMonitor(deps: AlertMonitorDeps): AlertMonitor {
  const { db, clock, config } = deps;
  const active = new Map<string, ActiveAlert>();
  const auth = new SmarthostAuthState();
  let stopped: AbortSignal | undefined;

  const measure = async (now: number): Promise<AlertInputs> => {
    const windowMs = config.bounceRate?.window ?? 0;
    const [oldest, counts, live] = await Promise.all([
      config.oldestQueuedAge === null ? null : oldestWaitingSince(db, new Date(now)),
      config.bounceRate === null
        ? {} as Record<string, number>
        : eventCounts(db, new Date(now - windowMs), new Date(now + 1)),
      config.unreachableFor === null || !deps.domains ? [] : deps.domains.domainState(),
    ]);
    return {
      oldestWaitingSince: oldest,
      outcomes: { bounced: counts.bounced ?? 0, delivered: counts.delivered ?? 0 },
      unreachable: live.flatMap((s) =>
        s.unreachableSince ? [{ domain: s.domain, since: new Date(s.unreachableSince) }] : []
      ),
      smarthostAuthRefused: auth.refused(),
    };
  };

  const evaluateOnce = async (): Promise<AlertEvent[]> => {
    const now = clock.now();
    const firing = evaluateAlerts(config, await measure(now), now);
    const at = new Date(now);
    const events: AlertEvent[] = [];
    const seen = new Set<string>();
    for (const alert of firing) {
      const key = alertKey(alert);
      seen.add(key);
      const was = active.get(key);
      const current = { ...alert, since: was?.since ?? at };
      active.set(key, current);
      if (!was) events.push({ kind: "alert.raised", alert: current, at });
    }
    for (const [key, alert] of active) {
      if (seen.has(key)) continue;
      active.delete(key);
      events.push({ kind: "alert.resolved", alert, at });
    }
    for (const e of events) {
      deps.metrics?.setAlertActive(e.alert.name, e.kind === "alert.raised", e.alert.domain ?? "");
      deps.onAlert?.(e);
    }
    if (events.length > 0) await deps.webhooks?.enqueue(events.map(toWebhookEvent));
    return events;
  };

  // One evaluation at a time: an immediate one and the interval's must not both see a change
  // as new and report it twice.
  let last: Promise<unknown> = Promise.resolve();
  const evaluate = (): Promise<AlertEvent[]> => {
    const next = last.then(evaluateOnce);
    last = next.catch(() => {});
    return next;
  };

  return {
    evaluate,
    active: () => [...active.values()],
    smarthostAuth(event) {
      if (!auth.report(event, clock.now()) || stopped?.aborted) return;
      evaluate().catch((err) => deps.onError?.(err));
    },
    async run(signal: AbortSignal) {
      stopped = signal;
      while (!signal.aborted) {
        try {
          await evaluate();
        } catch (err) {
          deps.onError?.(err);
        }
        await clock.sleep(config.interval, signal).catch(() => {});
      }
      // An evaluation started by a report may still run: done means done.
      await last;
    },
  };
}

function toWebhookEvent(e: AlertEvent): WebhookEvent {
  const a = e.alert;
  return {
    id: `alert_${e.kind === "alert.raised" ? "raised" : "resolved"}_${
      alertKey(a)
    }_${a.since.getTime()}`,
    type: e.kind,
    created_at: e.at.toISOString(),
    data: {
      alert: a.name,
      domain: a.domain,
      value: a.value,
      threshold: a.threshold,
      message: a.message,
      since: a.since.toISOString(),
    },
  };
}
