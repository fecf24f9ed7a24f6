/**
 * Applying a token, however it arrived (the https POST, or a mail to the bounce mailbox):
 * verify it, then record its use, the suppression scoped to the sender domain and the
 * `unsubscribed` event in one transaction (db/unsubscribe.ts). The outcome is a value the
 * caller turns into an HTTP status or a log line.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import type { Db } from "../../db/client.ts";
import { recordUnsubscribe, unsubscribeTargetOf } from "../../db/unsubscribe.ts";
import { type MailtoDomain, mailtoRequest } from "./mailto.ts";
import type { UnsubscribeClaims, UnsubscribeTokens } from "./token.ts";
import type { UnsubscribeLogger } from "./log.ts";

export interface UnsubscribeDeps {
  readonly db: Db;
  readonly tokens: UnsubscribeTokens;
  readonly clock: Clock;
  readonly logger: UnsubscribeLogger;
  readonly instance?: string;
}

export type ApplyOutcome =
  | { readonly kind: "unsubscribed"; readonly recipient: string; readonly senderDomain: string }
  | {
    readonly kind: "refused";
    readonly problem: "malformed" | "forged" | "expired" | "used";
    readonly reason: string;
  };

export async function applyUnsubscribe(
  deps: UnsubscribeDeps,
  token: string,
  via: "https" | "mailto",
): Promise<ApplyOutcome> {
  const check = await deps.tokens.verify(token);
  if (!check.ok) {
    deps.logger.log({
      event: "unsubscribe.refused",
      problem: check.problem,
      reason: check.reason,
      via,
    });
    return { kind: "refused", problem: check.problem, reason: check.reason };
  }
  return await record(deps, check.claims, via);
}

/**
 * A mail in the bounce mailbox: when it is addressed to an unsubscribe address of `at`, the
 * unsubscribe is applied (or refused, and logged) and the answer is `handled`, so the mail can
 * be deleted; any other mail is `other`, for bounce processing.
 */
export async function applyMailtoUnsubscribe(
  deps: UnsubscribeDeps,
  at: MailtoDomain,
  message: Uint8Array,
): Promise<"handled" | "other"> {
  const request = await mailtoRequest(deps.tokens, at, message);
  if (request.kind === "other") return "other";
  const refuse = (problem: "forged" | "expired" | "malformed", reason: string) => {
    deps.logger.log({ event: "unsubscribe.refused", problem, reason, via: "mailto" });
    return "handled" as const;
  };
  if (request.kind === "forged") return refuse("forged", request.reason);
  const target = await unsubscribeTargetOf(deps.db, request.deliveryId);
  if (!target) return refuse("malformed", `delivery ${request.deliveryId} no longer exists`);
  if (deps.clock.now() - target.createdAt.getTime() > deps.tokens.lifetimeMs) {
    return refuse("expired", `the message of delivery ${request.deliveryId} is too old`);
  }
  await record(deps, {
    deliveryId: target.deliveryId,
    outboxId: target.outboxId,
    recipient: target.recipient,
    senderDomain: target.senderDomain,
  }, "mailto");
  return "handled";
}

async function record(
  deps: UnsubscribeDeps,
  c: Omit<UnsubscribeClaims, "issuedAt">,
  via: "https" | "mailto",
): Promise<ApplyOutcome> {
  const r = await recordUnsubscribe(deps.db, {
    deliveryId: c.deliveryId,
    outboxId: c.outboxId,
    recipient: c.recipient,
    senderDomain: c.senderDomain,
    via,
    now: new Date(deps.clock.now()),
    ...(deps.instance ? { instance: deps.instance } : {}),
  });
  if (r.kind === "used") {
    const reason = `the token was used at ${r.usedAt.toISOString()}`;
    deps.logger.log({ event: "unsubscribe.refused", problem: "used", reason, via });
    return { kind: "refused", problem: "used", reason };
  }
  deps.logger.log({
    event: "unsubscribe.accepted",
    delivery_id: c.deliveryId,
    sender_domain: c.senderDomain,
    via,
  });
  return { kind: "unsubscribed", recipient: c.recipient, senderDomain: c.senderDomain };
}
