/**
 * The relay's loops, wired to real ports: ingestion (adaptive polling, optionally woken by
 * NOTIFY), the lease reaper and retention. `startRelay` takes everything it needs as arguments,
 * so tests start a whole relay in-process with their own clock and database.
 *
 * @module
 */
import type { Clock } from "./clock.ts";
import type { Config } from "./config.ts";
import type { Database } from "../db/client.ts";
import { ingestOutbox } from "../db/ingest.ts";
import { listenForOutbox, setNotifyTrigger } from "../db/notify.ts";
import { reapExpiredLeases } from "../db/queue.ts";
import { purgeFinished } from "../db/retention.ts";
import type { Logger } from "../actors/ports.ts";
import { Poller } from "../actors/poller.ts";

export interface RelayDeps {
  readonly database: Database;
  readonly config: Pick<Config, "queue" | "databaseUrl">;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly instance: string;
}

export interface RunningRelay {
  /** Resolves when every loop has stopped after the signal aborted. */
  readonly done: Promise<void>;
  /** Polls the outbox now (an HTTP enqueue, a notification). */
  wake(): void;
}

export async function startRelay(deps: RelayDeps, signal: AbortSignal): Promise<RunningRelay> {
  const { database, config, clock, logger } = deps;
  const q = config.queue;
  const db = database.db;
  const failed = (loop: string) => (err: unknown) =>
    logger.log({
      event: "loop.failed",
      loop,
      error: err instanceof Error ? err.message : String(err),
    });

  const poller = new Poller({
    clock,
    minMs: q.pollMin,
    maxMs: q.pollMax,
    onError: failed("ingest"),
    async poll() {
      const r = await ingestOutbox(db, {
        now: new Date(clock.now()),
        limit: q.ingestBatch,
        maxLifetimeMs: q.maxLifetime,
        limits: { maxMessageSize: q.maxMessageSize, maxRecipients: q.maxRecipients },
      });
      if (r.rows > 0) {
        logger.log({
          event: "ingest.batch",
          rows: r.rows,
          queued: r.queued,
          rejected: r.rejected,
          suppressed: r.suppressed,
        });
      }
      return { more: r.rows === q.ingestBatch };
    },
  });

  const loops: Promise<void>[] = [poller.run(signal)];
  if (database.kind === "postgres") {
    await setNotifyTrigger(db, q.notify);
    if (q.notify && config.databaseUrl) {
      loops.push(
        listenForOutbox(config.databaseUrl, () => poller.wake(), signal).catch(failed("listen")),
      );
    }
  }
  loops.push(every(clock, Math.max(1000, q.leaseDuration / 4), signal, async () => {
    const n = await reapExpiredLeases(db, { now: new Date(clock.now()) });
    if (n > 0) logger.log({ event: "lease.reaped", deliveries: n });
  }, failed("reaper")));
  loops.push(every(clock, 3_600_000, signal, async () => {
    const r = await purgeFinished(db, { before: new Date(clock.now() - q.retention) });
    if (r.deliveries + r.events + r.outbox > 0) logger.log({ event: "retention.purged", ...r });
  }, failed("retention")));

  return { done: Promise.all(loops).then(() => {}), wake: () => poller.wake() };
}

/** Runs `fn` every `ms` until the signal aborts; a failure is reported and the loop goes on. */
async function every(
  clock: Clock,
  ms: number,
  signal: AbortSignal,
  fn: () => Promise<void>,
  onError: (err: unknown) => void,
): Promise<void> {
  while (!signal.aborted) {
    try {
      await fn();
    } catch (err) {
      onError(err);
    }
    await clock.sleep(ms, signal).catch(() => {});
  }
}
