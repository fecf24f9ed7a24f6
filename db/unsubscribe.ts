/**
 * One-click unsubscribe (RFC 8058) applied: the token's use, the suppression scoped to the
 * sender domain and the `unsubscribed` event, in one transaction. A token is accepted once:
 * the primary key of `ferry.unsubscribe_uses` (one row per delivery) decides between two
 * instances answering the same token at the same moment.
 *
 * @module
 */
import type { Db } from "./client.ts";
import { parseMailbox } from "../lib/message/address.ts";

export interface UnsubscribeRequest {
  readonly deliveryId: number;
  readonly outboxId: number;
  /** Lower-cased by the function, as ingestion compares suppressions. */
  readonly recipient: string;
  readonly senderDomain: string;
  /** How the request came: the https POST or a mail to the bounce mailbox. */
  readonly via: "https" | "mailto";
  readonly now: Date;
  readonly instance?: string;
}

export type UnsubscribeResult =
  | { readonly kind: "unsubscribed"; readonly eventId: number }
  /** This delivery's token was used before: nothing changed. */
  | { readonly kind: "used"; readonly usedAt: Date };

/** The reason kept on the suppression and the event. */
export function unsubscribeReason(senderDomain: string, via: "https" | "mailto"): string {
  return `one-click unsubscribe (RFC 8058, ${via}) from mail of ${senderDomain}`;
}

export async function recordUnsubscribe(
  db: Db,
  r: UnsubscribeRequest,
): Promise<UnsubscribeResult> {
  const recipient = r.recipient.toLowerCase();
  const senderDomain = r.senderDomain.toLowerCase();
  const reason = unsubscribeReason(senderDomain, r.via);
  return await db.transaction().execute(async (tx) => {
    const taken = await tx.insertInto("ferry.unsubscribe_uses")
      .values({
        delivery_id: r.deliveryId,
        outbox_id: r.outboxId,
        recipient,
        sender_domain: senderDomain,
        via: r.via,
        used_at: r.now,
      })
      .onConflict((oc) => oc.column("delivery_id").doNothing())
      .returning("delivery_id").executeTakeFirst();
    if (!taken) {
      const used = await tx.selectFrom("ferry.unsubscribe_uses").select("used_at")
        .where("delivery_id", "=", r.deliveryId).executeTakeFirstOrThrow();
      return { kind: "used", usedAt: new Date(used.used_at) };
    }
    // For good: the recipient asked. An operator lifts it through the admin API.
    await tx.insertInto("ferry.suppressions")
      .values({
        address: recipient,
        reason,
        source: "unsubscribe",
        created_at: r.now,
        expires_at: null,
        sender_domain: senderDomain,
      })
      .onConflict((oc) =>
        oc.columns(["address", "sender_domain"]).doUpdateSet({
          reason,
          source: "unsubscribe",
          expires_at: null,
        })
      )
      .execute();
    const event = await tx.insertInto("ferry.events")
      .values({
        delivery_id: r.deliveryId,
        outbox_id: r.outboxId,
        at: r.now,
        kind: "unsubscribed",
        reply: reason,
        instance: r.instance ?? null,
      })
      .returning("id").executeTakeFirstOrThrow();
    return { kind: "unsubscribed", eventId: Number(event.id) };
  });
}

/**
 * Forgets token uses older than `before`. Safe once `before` is the token lifetime ago: a token
 * used then was issued earlier still, so it is refused as expired before its use is looked up.
 */
export async function purgeUnsubscribeUses(db: Db, before: Date): Promise<number> {
  const r = await db.deleteFrom("ferry.unsubscribe_uses").where("used_at", "<", before)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** A delivery as the `mailto:` form of unsubscribe needs it (the https token carries these). */
export interface UnsubscribeTarget {
  readonly deliveryId: number;
  readonly outboxId: number;
  readonly recipient: string;
  /** The From domain, as ingestion compares scoped suppressions. */
  readonly senderDomain: string;
  readonly createdAt: Date;
}

/** The delivery's recipient and sender domain; undefined when it is gone (retention). */
export async function unsubscribeTargetOf(
  db: Db,
  deliveryId: number,
): Promise<UnsubscribeTarget | undefined> {
  const r = await db.selectFrom("ferry.deliveries as d")
    .innerJoin("ferry.outbox as o", "o.id", "d.outbox_id")
    .select(["d.id", "d.outbox_id", "d.recipient", "o.from_address", "o.created_at"])
    .where("d.id", "=", deliveryId).executeTakeFirst();
  if (!r) return undefined;
  const from = parseMailbox(r.from_address ?? "");
  if (!from.ok) return undefined;
  return {
    deliveryId: Number(r.id),
    outboxId: Number(r.outbox_id),
    recipient: r.recipient,
    senderDomain: from.mailbox.domain,
    createdAt: new Date(r.created_at),
  };
}
