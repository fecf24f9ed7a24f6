/**
 * The {@link BounceSink} over PostgreSQL: each mailbox message is recorded in ONE transaction
 * that holds its `(mailbox, uidl)` marker (`ferry.bounce_messages`) and every change it makes,
 * so the poller's "DELE only after the commit" loses nothing and counts nothing twice
 * (relay/bounce_processing/sink.ts).
 *
 * Per matched outcome (decided in plan.ts):
 * - failure (`Action: failed`): the delivery becomes `bounced` with its class, the DSN's code
 *   and words in `last_code`/`last_reply` (also when it was `delivered`: the bounce came after a
 *   250), an event `bounced`; the recipient is suppressed only for a hard failure about the
 *   address (not a full mailbox, a spam block or a size limit);
 * - delay warning: an event `bounce_delayed`, status unchanged;
 * - complaint (ARF): an event `complaint` and a suppression.
 * Unmatched and unrecognised outcomes are counted; the message's raw bytes are kept with them.
 *
 * @module
 */
import type { BounceOutcome } from "../bounce_parsing/mod.ts";
import type { BounceRecord, BounceSink, RecordResult } from "./sink.ts";
import type { Db } from "../../db/client.ts";
import {
  applyBounceAction,
  deliveriesById,
  type DeliveryRef,
  insertBounceMessage,
  outboxesById,
  processedBounceUidls,
} from "../../db/bounces.ts";
import {
  actionFor,
  lookupKeys,
  matchDelivery,
  reportKind,
  type SuppressionPolicy,
} from "./plan.ts";

export interface PgBounceSinkOptions {
  /** How long hard bounces and complaints suppress their address. */
  readonly suppression: SuppressionPolicy;
  /** Written into the event rows' `instance`. */
  readonly instance?: string;
}

export class PgBounceSink implements BounceSink {
  constructor(readonly db: Db, readonly options: PgBounceSinkOptions) {}

  processed(mailbox: string, uidls: readonly string[]): Promise<ReadonlySet<string>> {
    return processedBounceUidls(this.db, mailbox, uidls);
  }

  record(record: BounceRecord): Promise<RecordResult> {
    return this.db.transaction().execute(async (tx) => {
      const { report } = record;
      const keys = lookupKeys(report);
      const deliveries = await deliveriesById(tx, keys.deliveryIds);
      const outboxes = await outboxesById(tx, keys.outboxIds);
      const candidates = {
        deliveries: new Map(deliveries.map((d) => [d.id, d])),
        outboxes: new Map(outboxes.map((o) => [o.outboxId, o])),
      };
      const matches = report.outcomes.map((o) =>
        o.kind === "unrecognised" ? undefined : matchDelivery(o, candidates)
      );
      const matched = matches.filter((m) => m !== undefined).length;
      const unmatched = matches.length - matched;

      // The marker first: a second recorder of the same message stops here, having written
      // nothing (it waited on the unique key until the first one committed).
      const inserted = await insertBounceMessage(tx, {
        mailbox: record.mailbox,
        uidl: record.uidl,
        processedAt: new Date(record.retrievedAt),
        kind: reportKind(report),
        matched,
        unmatched,
        summary: summary(record, matches),
        raw: unmatched > 0 ? record.raw : null,
      });
      if (!inserted) return { kind: "duplicate" } as const;

      // In delivery id order, so two messages touching the same deliveries cannot deadlock.
      const actions = report.outcomes.flatMap((o, i) => {
        const d = matches[i];
        return o.kind === "unrecognised" || d === undefined
          ? []
          : [actionFor(o, d, record.retrievedAt, this.options.suppression)];
      }).sort((a, b) => a.deliveryId - b.deliveryId);
      const now = new Date(record.retrievedAt);
      for (const action of actions) {
        await applyBounceAction(tx, action, {
          now,
          ...(this.options.instance ? { instance: this.options.instance } : {}),
        });
      }
      return { kind: "recorded", matched, unmatched } as const;
    });
  }
}

function summary(
  record: BounceRecord,
  matches: readonly (DeliveryRef | undefined)[],
): Record<string, unknown> {
  const { report } = record;
  return {
    subject: report.subject,
    from: report.from,
    ...(report.messageId ? { messageId: report.messageId } : {}),
    bytes: record.raw.byteLength,
    outcomes: report.outcomes.map((o: BounceOutcome, i) => ({
      ...o,
      deliveryId: matches[i]?.id ?? null,
    })),
  };
}
