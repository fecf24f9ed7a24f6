/**
 * Alert rules, pure: the measured inputs and the thresholds in, the alerts that fire out. The
 * monitor (alert_monitor.ts) gathers the inputs and turns changes into events.
 *
 * @module
 */
import type { AlertsConfig } from "./alert_config.ts";

export type AlertName =
  | "oldest_queued_age"
  | "bounce_rate"
  | "destination_unreachable"
  | "smarthost_auth_failed";

export interface Alert {
  readonly name: AlertName;
  /**
   * The destination, for `destination_unreachable`; the route's pattern (`*`, `example.com`),
   * for `smarthost_auth_failed`; null otherwise.
   */
  readonly domain: string | null;
  /** The measured value (seconds, or a ratio) and the threshold it crossed. */
  readonly value: number;
  readonly threshold: number;
  readonly message: string;
}

/** An alert that is raised, and since when. */
export interface ActiveAlert extends Alert {
  readonly since: Date;
}

export type AlertEvent =
  | { readonly kind: "alert.raised"; readonly alert: ActiveAlert; readonly at: Date }
  | { readonly kind: "alert.resolved"; readonly alert: ActiveAlert; readonly at: Date };

/** The log line of an alert event: raised (`alert.raised`) or stopped firing (`alert.resolved`). */
export interface AlertLogLine {
  readonly event: AlertEvent["kind"];
  readonly alert: AlertName;
  readonly domain: string | null;
  readonly value: number;
  readonly threshold: number;
  readonly message: string;
  /** When it was first raised (ms). */
  readonly since: number;
}

export function alertLogLine(e: AlertEvent): AlertLogLine {
  const a = e.alert;
  return {
    event: e.kind,
    alert: a.name,
    domain: a.domain,
    value: a.value,
    threshold: a.threshold,
    message: a.message,
    since: a.since.getTime(),
  };
}

export interface AlertInputs {
  /** When the oldest waiting delivery was queued; null when none waits. */
  readonly oldestWaitingSince: Date | null;
  /** Outcomes within the bounce-rate window. */
  readonly outcomes: { readonly bounced: number; readonly delivered: number };
  /** Destinations the actors report unreachable, and since when. */
  readonly unreachable: readonly { readonly domain: string; readonly since: Date }[];
  /** Routes whose latest AUTH was refused (smarthost_auth.ts); none when absent. */
  readonly smarthostAuthRefused?: readonly RefusedRoute[];
}

/** A route whose smarthost refused the latest AUTH through it. */
export interface RefusedRoute {
  /** The route's pattern. */
  readonly route: string;
  readonly host: string;
  readonly username: string;
  /** The reply recorded on the deferred mail, e.g. `451 4.7.8 smarthost ... refused ...`. */
  readonly reply: string;
  /** The first refusal since the last accepted AUTH. */
  readonly since: Date;
  /** Refusals in a row. */
  readonly refusals: number;
}

/** The alerts that fire for `inputs` at `now`. */
export function evaluateAlerts(config: AlertsConfig, inputs: AlertInputs, now: number): Alert[] {
  const out: Alert[] = [];
  if (config.oldestQueuedAge !== null && inputs.oldestWaitingSince) {
    const age = now - inputs.oldestWaitingSince.getTime();
    if (age > config.oldestQueuedAge) {
      out.push({
        name: "oldest_queued_age",
        domain: null,
        value: Math.round(age / 1000),
        threshold: config.oldestQueuedAge / 1000,
        message: `the oldest waiting delivery was queued ${formatAge(age)} ago (threshold ${
          formatAge(config.oldestQueuedAge)
        })`,
      });
    }
  }
  const rate = config.bounceRate;
  if (rate !== null) {
    const total = inputs.outcomes.bounced + inputs.outcomes.delivered;
    const ratio = total === 0 ? 0 : inputs.outcomes.bounced / total;
    if (total >= rate.minOutcomes && ratio > rate.threshold) {
      out.push({
        name: "bounce_rate",
        domain: null,
        value: Number(ratio.toFixed(4)),
        threshold: rate.threshold,
        message: `${(ratio * 100).toFixed(1)}% of ${total} outcomes in the last ${
          formatAge(rate.window)
        } bounced (threshold ${(rate.threshold * 100).toFixed(1)}%)`,
      });
    }
  }
  if (config.unreachableFor !== null) {
    for (const u of inputs.unreachable) {
      const down = now - u.since.getTime();
      if (down < config.unreachableFor) continue;
      out.push({
        name: "destination_unreachable",
        domain: u.domain,
        value: Math.round(down / 1000),
        threshold: config.unreachableFor / 1000,
        message: `${u.domain} has been unreachable for ${formatAge(down)}`,
      });
    }
  }
  // No threshold: a refused password does not heal by waiting, and every attempt until it is
  // fixed defers mail (and may count toward locking the account).
  for (const r of inputs.smarthostAuthRefused ?? []) {
    out.push({
      name: "smarthost_auth_failed",
      domain: r.route,
      value: r.refusals,
      threshold: 1,
      message: `route ${r.route}: ${
        r.reply.replace(/^\d{3}[ -](\d\.\d{1,3}\.\d{1,3} )?/, "")
      }; its mail is deferred until AUTH succeeds`,
    });
  }
  return out;
}

/** `alert` plus domain: what identifies one alert across evaluations. */
export function alertKey(a: Pick<Alert, "name" | "domain">): string {
  return a.domain === null ? a.name : `${a.name}:${a.domain}`;
}

function formatAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86400).toFixed(1)}d`;
}
