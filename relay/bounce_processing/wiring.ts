/**
 * Bounce processing put together: the POP3 poller writing through the database sink, VERP
 * return paths for outgoing mail, and retention of the processed-message markers. Everything
 * comes from the optional `bounce` section of the config; without it there is no loop and the
 * envelope sender stays the From address. mod.ts is the door; this file is behind it.
 *
 * @module
 */
import type { Database, Db } from "../../db/client.ts";
import { purgeBounceMessages } from "../../db/bounces.ts";
import type { Clock } from "../../lib/clock.ts";
import { encodeVerp } from "../bounce_parsing/mod.ts";
import type { Pop3Trace } from "../pop3/mod.ts";
import type { BounceConfig } from "./config.ts";
import type { BounceEvent, BounceLog } from "./events.ts";
import { bounceLoopOptions, verpKeyFromConfig } from "./from_config.ts";
import { runBounceLoop } from "./loop.ts";
import type { BounceSink } from "./sink.ts";
import type { MailboxUnsubscribe } from "./processor.ts";
import { PgBounceSink } from "./pg_sink.ts";
import type { SuppressionPolicy } from "./plan.ts";
import { type BounceLogLine, bounceLogLine } from "./log.ts";

/** The parts of the relay's configuration bounce processing reads (the relay's Config fits). */
export interface BounceSettings {
  /** The `bounce` section; absent: no mailbox is polled and no VERP is used. */
  readonly bounce?: BounceConfig | undefined;
  readonly delivery: {
    /** How long an address that bounced hard stays suppressed; null: for good. */
    readonly suppressFor: number | null;
    /** Extra CA certificates (PEM file) the POP3 server's certificate may chain to. */
    readonly caFile?: string | undefined;
  };
}

export interface BounceLoopDeps {
  readonly config: BounceSettings;
  readonly database: Pick<Database, "db">;
  readonly clock: Clock;
  readonly logger: { log(line: BounceLogLine): void };
  /** Stops the loop; an in-flight poll is dropped without QUIT, so nothing is deleted. */
  readonly signal: AbortSignal;
  /** Written into the event rows the bounces add. */
  readonly instance?: string;
  /** Every bounce event (per message, per poll), unfiltered; `logger` gets the `bounce.*` lines. */
  readonly log?: BounceLog;
  /** POP3 transcripts, with PASS and APOP redacted. */
  readonly trace?: Pop3Trace;
  /** Replaces the database sink (tests: a crash right after the commit). */
  readonly sink?: BounceSink;
  /** One-click unsubscribe requests mailed to the mailbox (relay/unsubscribe, via composition). */
  readonly unsubscribe?: MailboxUnsubscribe;
}

/**
 * Polls the bounce mailbox until `signal` aborts; resolves then, or at once when the config has
 * no `bounce` section. The POP3 server's certificate is checked against the system's CAs plus
 * `delivery.caFile`. Every poll that found something, every message and every failure is
 * logged as a `bounce.*` line (log.ts, credentials scrubbed); a failed poll is retried at the
 * next interval.
 */
export async function startBounceLoop(deps: BounceLoopDeps): Promise<void> {
  const { config, clock, logger, signal } = deps;
  const bounce = config.bounce;
  if (!bounce || signal.aborted) return;
  const caCerts = config.delivery.caFile
    ? [await Deno.readTextFile(config.delivery.caFile)]
    : undefined;
  const sink = deps.sink ?? new PgBounceSink(deps.database.db, {
    suppression: suppressionPolicy(config),
    ...(deps.instance ? { instance: deps.instance } : {}),
  });
  const secrets = [bounce.password.reveal(), bounce.verp.secret.reveal()];
  const log = (event: BounceEvent) => {
    deps.log?.(event);
    const line = bounceLogLine(event, secrets);
    if (line) logger.log(line);
  };
  await runBounceLoop(bounceLoopOptions(bounce, {
    clock,
    sink,
    signal,
    log,
    ...(deps.trace ? { trace: deps.trace } : {}),
    ...(caCerts ? { caCerts } : {}),
    ...(deps.unsubscribe ? { unsubscribe: deps.unsubscribe } : {}),
  }));
}

/**
 * The envelope sender per delivery when VERP is configured (`<prefix>+<id>-<tag>@<domain>`,
 * where id is the delivery's id); undefined without a `bounce` section (the sender is then the
 * From address).
 */
export function verpSender(
  config: BounceSettings,
): ((delivery: { readonly id: number }) => string) | undefined {
  if (!config.bounce) return undefined;
  const key = verpKeyFromConfig(config.bounce);
  return (delivery) => encodeVerp(delivery.id, key);
}

/**
 * How long bounces and complaints suppress an address: `delivery.suppressFor`, the same as a
 * synchronous "user unknown", so both paths agree.
 */
export function suppressionPolicy(config: BounceSettings): SuppressionPolicy {
  const ms = config.delivery.suppressFor;
  return { hardBounceMs: ms, complaintMs: ms };
}

/** What one retention pass removed from `ferry.bounce_messages`. */
export interface BouncePurgeResult {
  readonly messages: number;
  /** False when `maxBatches` stopped the pass early: the next pass goes on. */
  readonly complete: boolean;
}

/**
 * Retention for the bounce markers (and the unmatched bounces kept with them): everything
 * processed before `before` goes, batch by batch, each its own short statement. Called by the
 * hourly retention loop with the same cut-off as finished deliveries (`queue.retention`): a
 * marker outlives its message in the mailbox by far, since DELE follows its commit at once.
 */
export async function purgeBounceHistory(
  db: Db,
  o: { readonly before: Date; readonly batchSize?: number; readonly maxBatches?: number },
): Promise<BouncePurgeResult> {
  const limit = o.batchSize ?? 1000;
  let messages = 0;
  for (let batch = 0; batch < (o.maxBatches ?? 100); batch++) {
    const n = await purgeBounceMessages(db, { before: o.before, limit });
    messages += n;
    if (n < limit) return { messages, complete: true };
  }
  return { messages, complete: false };
}
