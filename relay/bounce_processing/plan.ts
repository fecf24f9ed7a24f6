/**
 * Pure decisions of the database bounce sink: which delivery an outcome belongs to, and what it
 * does to it. No I/O: relay/bounce_processing/pg_sink.ts loads the candidates and applies the actions.
 *
 * Matching, most trusted first:
 * 1. a VERP id that verified (relay/bounce_parsing/verp.ts): it is the delivery's id;
 * 2. the original Message-ID, when it is one Ferry composed: `<ferry.{outboxId}.{hash}@{domain}>`
 *    names its outbox row, and the hash is recomputed from that row's `created_at`
 *    (relay/mime/message_id.ts), so an id that merely looks like ours matches nothing; then the
 *    reported recipient picks the delivery among the row's recipients (or the only one).
 *
 * Messages whose Message-ID the application chose (a `Message-ID` header or a raw message) can
 * only be matched by VERP.
 *
 * @module
 */
import type { Bounce, BounceReport, Complaint } from "../bounce_parsing/mod.ts";
import type { BounceAction, BounceMessageRow, DeliveryRef, OutboxRef } from "../../db/bounces.ts";
import { messageIdFor } from "../mime/mod.ts";

/** How long each kind of suppression lasts, in ms; null: for good. */
export interface SuppressionPolicy {
  readonly hardBounceMs: number | null;
  readonly complaintMs: number | null;
}

/** What the database knows about the keys a report carries. */
export interface Candidates {
  readonly deliveries: ReadonlyMap<number, DeliveryRef>;
  readonly outboxes: ReadonlyMap<number, OutboxRef>;
}

/** A Ferry-composed Message-ID, taken apart. */
export interface FerryMessageId {
  readonly outboxId: number;
  readonly domain: string;
}

const FERRY_MESSAGE_ID = /^<ferry\.(\d{1,15})\.[0-9a-f]{16}@([^<>@\s]+)>$/i;
const DECIMAL_ID = /^\d{1,15}$/;

/**
 * Hard failures about the message rather than the address: the address stays usable. (A spam
 * block or a size limit says nothing about whether the mailbox exists.)
 */
const NOT_ABOUT_THE_ADDRESS = new Set(["spam_or_policy", "message_too_large"]);

/**
 * Feedback types that are no complaint by the recipient (RFC 5965 §7.3, RFC 6591): they get an
 * event but no suppression.
 */
const NOT_A_COMPLAINT = new Set(["not-spam", "auth-failure"]);

/** `<ferry.{id}.{hash}@{domain}>` taken apart, or undefined for any other Message-ID. */
export function parseFerryMessageId(id: string): FerryMessageId | undefined {
  const m = FERRY_MESSAGE_ID.exec(id.trim());
  return m ? { outboxId: Number(m[1]), domain: m[2]! } : undefined;
}

/** Whether `id` is exactly the Message-ID Ferry composed for `outbox`. */
export function isMessageIdOf(id: string, outbox: OutboxRef): boolean {
  const parsed = parseFerryMessageId(id);
  if (!parsed || parsed.outboxId !== outbox.outboxId) return false;
  try {
    const expected = messageIdFor(outbox.outboxId, outbox.createdAt.getTime(), parsed.domain);
    return expected.toLowerCase() === id.trim().toLowerCase();
  } catch {
    return false; // a domain messageIdFor refuses was never one of ours
  }
}

/** The delivery ids and outbox ids a report's outcomes point at, for one lookup each. */
export function lookupKeys(report: BounceReport): { deliveryIds: number[]; outboxIds: number[] } {
  const deliveryIds = new Set<number>();
  const outboxIds = new Set<number>();
  for (const o of report.outcomes) {
    if (o.kind === "unrecognised") continue;
    if (o.verpId !== undefined && DECIMAL_ID.test(o.verpId)) deliveryIds.add(Number(o.verpId));
    const parsed = o.originalMessageId ? parseFerryMessageId(o.originalMessageId) : undefined;
    if (parsed) outboxIds.add(parsed.outboxId);
  }
  return { deliveryIds: [...deliveryIds], outboxIds: [...outboxIds] };
}

/** The delivery an outcome belongs to, or undefined when it cannot be told. */
export function matchDelivery(
  outcome: Bounce | Complaint,
  candidates: Candidates,
): DeliveryRef | undefined {
  if (outcome.verpId !== undefined && DECIMAL_ID.test(outcome.verpId)) {
    const byVerp = candidates.deliveries.get(Number(outcome.verpId));
    if (byVerp) return byVerp;
  }
  const id = outcome.originalMessageId;
  const parsed = id ? parseFerryMessageId(id) : undefined;
  const outbox = parsed ? candidates.outboxes.get(parsed.outboxId) : undefined;
  if (!id || !outbox || !isMessageIdOf(id, outbox)) return undefined;
  const named = [outcome.recipient, outcome.originalEnvelopeTo]
    .flatMap((a) => (a ? [bare(a)] : []));
  if (named.length === 0) {
    return outbox.deliveries.length === 1 ? outbox.deliveries[0] : undefined;
  }
  return outbox.deliveries.find((d) => named.includes(bare(d.recipient)));
}

/** What a matched outcome does to its delivery. */
export function actionFor(
  outcome: Bounce | Complaint,
  delivery: DeliveryRef,
  now: number,
  policy: SuppressionPolicy,
): BounceAction {
  const until = (ms: number | null) => (ms === null ? null : new Date(now + ms));
  if (outcome.kind === "complaint") {
    const by = outcome.userAgent ? ` from ${outcome.userAgent}` : "";
    const reply = `complaint: feedback type ${outcome.feedbackType}${by}`;
    return {
      deliveryId: delivery.id,
      event: "complaint",
      code: null,
      enhanced: null,
      reply,
      reportingMta: null,
      ...(NOT_A_COMPLAINT.has(outcome.feedbackType.toLowerCase()) ? {} : {
        suppress: { reason: reply, source: "complaint", until: until(policy.complaintMs) },
      }),
    };
  }
  const { code, reply } = replyOf(outcome);
  const base = {
    deliveryId: delivery.id,
    code,
    enhanced: outcome.status,
    reply,
    reportingMta: outcome.reportingMta ?? null,
  };
  if (outcome.action === "delayed") return { ...base, event: "bounce_delayed" };
  // `Action: failed` is final for this message (RFC 3464 §2.3.3), whatever its class: the
  // delivery is bounced, as a synchronous 5xx would have bounced it. Only a hard failure about
  // the address itself suppresses the address: a full mailbox empties, and a block or a size
  // limit is about the message.
  const aboutTheAddress = outcome.hard && !NOT_ABOUT_THE_ADDRESS.has(outcome.class);
  return {
    ...base,
    event: "bounced",
    bounceClass: outcome.class,
    ...(aboutTheAddress
      ? { suppress: { reason: reply, source: "bounce", until: until(policy.hardBounceMs) } }
      : {}),
  };
}

/** The marker row's overall kind. */
export function reportKind(report: BounceReport): BounceMessageRow["kind"] {
  const kinds = report.outcomes;
  if (kinds.some((o) => o.kind === "complaint")) return "complaint";
  if (kinds.some((o) => o.kind === "bounce" && o.action === "failed")) return "bounce";
  if (kinds.some((o) => o.kind === "bounce")) return "delay";
  return "unrecognised";
}

/**
 * A reply in the form `last_reply` has for synchronous failures (code, enhanced code, text):
 * the remote server's own words when the DSN quotes them, the code derived from the status
 * class otherwise (RFC 3463 §3.1: 5 permanent, 4 persistent transient).
 */
export function replyOf(b: Bounce): { code: number | null; reply: string } {
  const quoted = /^([245]\d\d)(?:[\s-]+|$)(.*)$/s.exec(b.diagnostic);
  const derived = b.status.startsWith("5") ? 550 : b.status.startsWith("4") ? 450 : null;
  const code = quoted ? Number(quoted[1]) : derived;
  let text = quoted ? quoted[2]! : b.diagnostic;
  if (!/^\d\.\d{1,3}\.\d{1,3}\b/.test(text)) text = `${b.status} ${text}`;
  const reply = (code === null ? text : `${code} ${text}`).trim();
  return { code, reply: reply.length > 2000 ? `${reply.slice(0, 1997)}...` : reply };
}

function bare(address: string): string {
  return address.trim().replace(/^<|>$/g, "").toLowerCase();
}
