/**
 * The `alerts` section of the JSON config file: mount it as `alerts: alertsSchema` in
 * relay/config/config.ts. Every threshold can be turned off with `null`.
 *
 * ```json
 * "alerts": {
 *   "interval": "30s",
 *   "oldestQueuedAge": "1h",
 *   "bounceRate": { "threshold": 0.05, "window": "15m", "minOutcomes": 50 },
 *   "unreachableFor": "10m"
 * }
 * ```
 *
 * @module
 */
import { z } from "zod";
import { durationSchema } from "../../lib/unit_schemas.ts";

export const alertsSchema = z.strictObject({
  /** How often the thresholds are evaluated. */
  interval: durationSchema(1000).prefault("30s"),
  /** Raise when a delivery has been waiting longer than this (scheduled mail excepted). */
  oldestQueuedAge: durationSchema().nullable().prefault("1h"),
  /** Raise when bounces / (bounces + deliveries) over `window` exceeds `threshold`. */
  bounceRate: z.strictObject({
    threshold: z.number().gt(0).max(1).default(0.05),
    window: durationSchema(1000).prefault("15m"),
    /** Fewer outcomes than this in the window say nothing: no alert. */
    minOutcomes: z.number().int().min(1).default(50),
  }).nullable().prefault({}),
  /** Raise when a destination has been unreachable (every MX failing) this long. */
  unreachableFor: durationSchema().nullable().prefault("10m"),
}).prefault({});

export type AlertsConfig = z.output<typeof alertsSchema>;
