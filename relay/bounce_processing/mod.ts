/**
 * Bounce processing, behind one door: the bounce mailbox is polled over POP3, each message is
 * parsed (relay/bounce_parsing), matched to its delivery (VERP or Message-ID) and recorded in
 * PostgreSQL in one transaction before it is deleted; outgoing mail gets VERP return paths; the
 * processed-message markers are kept for the retention period. The composition root wires it
 * with one call:
 *
 * ```ts ignore
 * const bounces = bounceProcessing({ config, database, clock, logger, instance });
 * new SmtpDeliverer({ ..., envelopeSender: bounces.envelopeSender });
 * loops.push(bounces.run(signal));
 * await bounces.purge(before); // hourly, with the rest of retention
 * ```
 *
 * @module
 */
import {
  type BounceLoopDeps,
  type BouncePurgeResult,
  purgeBounceHistory,
  startBounceLoop,
  verpSender,
} from "./wiring.ts";

export { type BounceConfig, type BounceConfigInput, bounceConfigSchema } from "./config.ts";
export type { BounceEvent, BounceLog } from "./events.ts";
export type { BounceLogLine } from "./log.ts";
export type { BounceLoopDeps, BouncePurgeResult, BounceSettings } from "./wiring.ts";
export type { MailboxUnsubscribe } from "./processor.ts";

export interface BounceProcessing {
  /** The VERP envelope sender per delivery; undefined without a `bounce` section. */
  readonly envelopeSender: ((delivery: { readonly id: number }) => string) | undefined;
  /** Polls the bounce mailbox until `signal` aborts (resolves at once without a mailbox). */
  run(signal: AbortSignal): Promise<void>;
  /** Removes the markers of messages processed before `before`, batch by batch. */
  purge(before: Date): Promise<BouncePurgeResult>;
}

/** Bounce processing for the relay's configuration (only its `bounce` and `delivery` parts). */
export function bounceProcessing(deps: Omit<BounceLoopDeps, "signal">): BounceProcessing {
  return {
    envelopeSender: verpSender(deps.config),
    run: (signal) => startBounceLoop({ ...deps, signal }),
    purge: (before) => purgeBounceHistory(deps.database.db, { before }),
  };
}
