/**
 * The actors' Queue port over PostgreSQL (db/queue.ts, db/leases.ts). Converts between the
 * actors' millisecond times and the database's timestamps, names destination leases, and
 * classifies synchronous bounces (actors/ knows nothing of bounce classes).
 *
 * @module
 */
import type { Delivery, OutcomeRecord, Queue } from "../../actors/ports.ts";
import type { Db } from "../../db/client.ts";
import type { MessageRow } from "../../db/messages.ts";
import { classify } from "../bounce_parsing/mod.ts";
import { acquireLeases, domainLease, releaseLeases, renewLeases } from "../../db/leases.ts";
import { senderKeyOf } from "./sender_limits.ts";
import {
  claimDomains,
  type ClaimedDelivery,
  readyDomains,
  recordOutcomes,
  releaseClaims,
} from "../../db/queue.ts";

export interface PgQueueOptions {
  readonly db: Db;
  /** This instance's name: lease owner. */
  readonly instance: string;
  /** Lease on claimed deliveries. */
  readonly deliveryLeaseMs: number;
  /** Lease on destinations. */
  readonly domainLeaseMs: number;
  /** How long a "no such user" bounce keeps the address suppressed (null: for good). */
  readonly suppressForMs: number | null;
  /**
   * Given the outbox rows of the messages each claim took, read by the claim statement itself:
   * sending them then needs no statement of its own to load them. Absent: claims read no content.
   */
  readonly onMessages?: (rows: readonly MessageRow[]) => void;
  /**
   * Per-sender limits: the `senders` keys and the `metadata` key of the tenant tag; each claimed
   * delivery is told the key it falls under (relay/adapters/sender_limits.ts).
   */
  readonly senders?: { readonly keys: ReadonlySet<string>; readonly tenantKey: string };
}

const fromLease = (name: string) => name.slice("domain:".length);

export function pgQueue(o: PgQueueOptions): Queue {
  const { db, instance: owner } = o;
  const lease = (now: number) => ({ owner, now: new Date(now), ttlMs: o.domainLeaseMs });
  return {
    readyDomains: (q) => readyDomains(db, { ...q, now: new Date(q.now), owner }),
    acquireDomains: async (domains, now) =>
      (await acquireLeases(db, domains.map(domainLease), lease(now))).map(fromLease),
    renewDomains: async (domains, now) =>
      (await renewLeases(db, domains.map(domainLease), lease(now))).map(fromLease),
    releaseDomains: (domains) => releaseLeases(db, domains.map(domainLease), owner),
    async claimMany(requests, now) {
      const claimed = await claimDomains(db, {
        requests,
        owner,
        holder: owner,
        now: new Date(now),
        leaseMs: o.deliveryLeaseMs,
        ...(o.onMessages ? { withMessages: true } : {}),
        ...(o.senders ? { tenantKey: o.senders.tenantKey } : {}),
      });
      if (o.onMessages) {
        const rows = claimed.flatMap((d) => (d.message ? [d.message] : []));
        if (rows.length > 0) o.onMessages(rows);
      }
      return claimed.map((d) => toDelivery(d, o.senders?.keys));
    },
    async record(outcomes: readonly OutcomeRecord[], now: number) {
      const r = await recordOutcomes(
        db,
        outcomes.map((x) => ({
          id: x.delivery.id,
          leaseToken: x.delivery.leaseToken,
          status: x.status,
          attempted: x.attempted,
          code: x.code,
          enhanced: x.enhanced ?? null,
          reply: x.reply,
          mxHost: x.mxHost ?? null,
          tls: x.tls ?? null,
          tlsDetail: x.tlsDetail ?? null,
          durationMs: x.durationMs ?? null,
          bounceClass: bounceClassOf(x),
          nextAttemptAt: x.nextAttemptAt === undefined ? null : new Date(x.nextAttemptAt),
          suppress: x.suppress
            ? {
              reason: x.reply ?? "bounced",
              until: o.suppressForMs === null ? null : new Date(now + o.suppressForMs),
            }
            : null,
        })),
        { now: new Date(now), instance: owner },
      );
      return { refused: r.refused };
    },
    async release(deliveries: readonly Delivery[], at: number, now: number) {
      await releaseClaims(db, deliveries, { now: new Date(now), nextAttemptAt: new Date(at) });
    },
  };
}

/**
 * The class of a synchronous bounce (a 5xx reply during the SMTP transaction), by the same
 * classifier as asynchronous bounces so both are reported alike; null for any other outcome.
 */
export function bounceClassOf(x: OutcomeRecord): string | null {
  if (x.status !== "bounced") return null;
  const diagnostic = x.reply ?? "";
  return classify({
    ...(x.enhanced ? { status: x.enhanced } : {}),
    diagnostic,
    action: "failed",
  }).class;
}

/**
 * A claimed row as the actors see it (also for the claims made on ingest), told the per-sender
 * limit it falls under when `senders` (the configured keys) are given.
 */
export function toDelivery(
  d: ClaimedDelivery,
  senders: ReadonlySet<string> | undefined,
): Delivery {
  const sender = senders && senders.size > 0
    ? senderKeyOf(senders, d.fromAddress, d.tenant)
    : undefined;
  return {
    ...(sender !== undefined ? { sender } : {}),
    id: d.id,
    outboxId: d.outboxId,
    recipient: d.recipient,
    domain: d.domain,
    priority: d.priority,
    attempts: d.attempts,
    expiresAt: d.expiresAt.getTime(),
    queuedAt: d.queuedAt.getTime(),
    smtputf8: d.smtputf8,
    leaseToken: d.leaseToken,
    leaseExpiresAt: d.leaseExpiresAt.getTime(),
  };
}
