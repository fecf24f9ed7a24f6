/**
 * The actors' metrics port (actors/ports.ts `ActorMetrics`) on top of the relay's Prometheus
 * {@link Metrics}: actors report connection opens and closes, the gauge wants the total.
 *
 * @module
 */
import type { ActorMetrics } from "../../actors/ports.ts";
import type { Metrics } from "./metrics.ts";

export function actorMetrics(
  metrics: Pick<Metrics, "recordOutcome" | "observeAttempt" | "setConnections" | "setActors">,
): ActorMetrics {
  let open = 0;
  return {
    recordOutcome: (status) => metrics.recordOutcome(status),
    observeAttempt: (seconds) => metrics.observeAttempt(seconds),
    connectionsChanged(delta) {
      open = Math.max(0, open + delta);
      metrics.setConnections(open);
    },
    setActors: (n) => metrics.setActors(n),
  };
}
