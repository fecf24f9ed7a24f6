/**
 * What the actors need from the outside world, declared by the consumer as the smallest subset
 * it uses (Kysely's habit). actors/ imports nothing from relay/ or db/: relay/main.ts plugs the
 * real implementations in, tests plug fakes.
 *
 * @module
 */

/** Wall-clock time and cancellable waiting (structurally the same as relay/clock.ts). */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/** Structured log events, emitted as JSON lines by relay/main.ts. */
export type LogEvent =
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
  | {
    readonly event: "retention.purged";
    readonly deliveries: number;
    readonly events: number;
    readonly outbox: number;
  }
  | { readonly event: "loop.failed"; readonly loop: string; readonly error: string };

export interface Logger {
  log(event: LogEvent): void;
}
