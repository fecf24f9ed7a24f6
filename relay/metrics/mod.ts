/**
 * Prometheus metrics and alerts.
 *
 * @module
 */
export { createMetrics, type Metrics, type MetricsOptions, type OutcomeKind } from "./metrics.ts";
export { actorMetrics } from "./actor_metrics.ts";
export { type AlertsConfig, alertsSchema } from "./alert_config.ts";
export {
  type ActiveAlert,
  type Alert,
  type AlertEvent,
  type AlertInputs,
  type AlertLogLine,
  alertLogLine,
  type AlertName,
  evaluateAlerts,
  type RefusedRoute,
} from "./alerts.ts";
export type { SmarthostAuthReport } from "./smarthost_auth.ts";
export { type AlertMonitor, type AlertMonitorDeps, createAlertMonitor } from "./alert_monitor.ts";
