/**
 * The relay's log: one JSON object per line on stdout, with a timestamp. The only place that
 * writes log output. Each part declares the events it emits (the actors, the database health
 * probe, bounce processing, webhooks, alerts); the composition root adds its own and joins them
 * here into the one union the log accepts.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import type { ActorLogEvent } from "../../actors/ports.ts";
import type { DatabaseHealthEvent } from "../../db/health.ts";
import type { BounceLogLine } from "../bounce_processing/mod.ts";
import type { WebhookLogLine } from "../webhooks/mod.ts";
import type { AlertLogLine } from "../metrics/mod.ts";
import type { TlsRptLogLine } from "../tls_rpt/mod.ts";
import type { UnsubscribeLogLine } from "../unsubscribe/mod.ts";

/** What the composition root itself logs: the process's life, its loops, ingestion, retention. */
export type RelayLogEvent =
  | { readonly event: "relay.started"; readonly instance: string; readonly backend: string }
  | { readonly event: "relay.stopping"; readonly reason: string }
  | { readonly event: "relay.stopped" }
  | {
    readonly event: "ingest.batch";
    readonly rows: number;
    readonly queued: number;
    readonly rejected: number;
    readonly suppressed: number;
  }
  | { readonly event: "lease.reaped"; readonly deliveries: number }
  /** At start, the deliveries this instance held before it stopped uncleanly came back. */
  | { readonly event: "lease.reclaimed"; readonly instance: string; readonly deliveries: number }
  | {
    readonly event: "retention.purged";
    readonly deliveries: number;
    readonly events: number;
    readonly outbox: number;
  }
  /** Retention removed processed bounce markers (and the unmatched bounces kept with them). */
  | { readonly event: "bounce.purged"; readonly messages: number; readonly complete: boolean }
  | { readonly event: "loop.failed"; readonly loop: string; readonly error: string }
  /** Outcomes not written (database away past the bound, or at shutdown): re-sent after lease. */
  | { readonly event: "outcome.given_up"; readonly count: number; readonly reason: string }
  /**
   * An MTA-STS policy problem the operator should hear of (RFC 8461 §5.1): a refresh that failed
   * while a stored policy is applied, a broken record or policy, a policy that cannot be stored.
   */
  | {
    readonly event: "mta_sts.warning";
    readonly domain: string;
    /** The mode applied: the stored policy's, or `none`. */
    readonly mode: "enforce" | "testing" | "none";
    readonly warning: string;
  }
  /** A promise rejection nobody handled: logged, then the process stops in order. */
  | { readonly event: "process.unhandled"; readonly error: string };

/** Every line the relay's log carries. */
export type LogEvent =
  | RelayLogEvent
  | ActorLogEvent
  | DatabaseHealthEvent
  | BounceLogLine
  | WebhookLogLine
  | AlertLogLine
  | TlsRptLogLine
  | UnsubscribeLogLine;

/** The relay's logger; each part's own logger port accepts it, as it takes a subset. */
export interface Logger {
  log(event: LogEvent): void;
}

export function jsonLogger(clock: Clock, write: (line: string) => void): Logger {
  return {
    log(event: LogEvent) {
      write(JSON.stringify({ time: new Date(clock.now()).toISOString(), ...event }));
    },
  };
}
