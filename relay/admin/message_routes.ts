/**
 * `/api/v1/messages`: search with keyset pagination, one message with its history, enqueue
 * over HTTP, retry and cancel per message.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { z } from "zod";
import {
  ACTIONABLE,
  bulkAction,
  getMessage,
  insertMessage,
  messageExists,
  searchDeliveries,
} from "../../db/admin_queries.ts";
import { cancelMessage } from "../../db/queue.ts";
import { validateRow } from "../../lib/message/validate.ts";
import { actorOf, type ApiRoutes, RequestError } from "./api_route.ts";
import { audit } from "./audit.ts";
import { cursorParam, encodeCursor } from "./cursor.ts";
import type { AdminContext } from "./deps.ts";
import {
  deliverySchema,
  domainSchema,
  errorSchema,
  eventSchema,
  idParam,
  instantSchema,
  limitParam,
  statusListParam,
} from "./schemas.ts";

const TAG = "messages";
const order = z.enum(["asc", "desc"]);

const searchQuery = z.strictObject({
  status: statusListParam.optional(),
  domain: domainSchema.optional(),
  recipient: z.string().min(1).max(998).optional().describe("Exact recipient address."),
  since: instantSchema.optional().describe("Queued at or after (ISO 8601)."),
  until: instantSchema.optional().describe("Queued before (ISO 8601)."),
  limit: limitParam(500, 50),
  order: order.default("desc").describe("By id: desc (newest first, default) or asc."),
  cursor: cursorParam(z.object({ after: z.number().int(), order })).optional(),
});

const recipients = z.array(z.string().min(1).max(998)).max(10_000).default([]);

/** The writable columns of `ferry.outbox` (README, "Send a mail"), as JSON. */
export const newMessageSchema = z.strictObject({
  from_address: z.string().min(1).max(998),
  to_addresses: recipients,
  cc_addresses: recipients,
  bcc_addresses: recipients,
  reply_to: z.string().max(998).nullish(),
  subject: z.string().nullish(),
  text_body: z.string().nullish(),
  html_body: z.string().nullish(),
  headers: z.record(z.string(), z.string()).nullish()
    .describe("Extra headers: an object of header name to string value."),
  raw_message: z.base64().nullish()
    .describe("A complete RFC 5322 message, base64; excludes subject, bodies and headers."),
  attachments: z.array(z.strictObject({
    filename: z.string(),
    content_type: z.string(),
    content: z.string().describe("Base64 (RFC 4648), no line breaks."),
    content_id: z.string().optional()
      .describe("Makes the part inline, referenced as cid:<content_id> in html_body."),
  })).max(100).nullish().describe("Files attached to the structured form; counted in the size."),
  priority: z.number().int().min(0).max(2).default(1).describe("0 high, 1 normal, 2 low."),
  require_tls: z.boolean().default(false).describe(
    "REQUIRETLS (RFC 8689): send only over TLS with a verified certificate to a receiver that " +
      "announces REQUIRETLS, else bounce (550 5.7.30 or 5.7.10); never sent with less.",
  ),
  list_unsubscribe: z.boolean().default(false).describe(
    "One-click unsubscribe (RFC 8058): Ferry adds List-Unsubscribe (an https link to its public " +
      "listener, one signed token per recipient) and List-Unsubscribe-Post, both covered by the " +
      "DKIM signature. A POST to the link suppresses the recipient for mail from the From " +
      "domain. Refused (400) when the relay has no `unsubscribe` configuration.",
  ),
  send_at: instantSchema.nullish(),
  expires_at: instantSchema.nullish(),
  idempotency_key: z.string().min(1).max(500).nullish()
    .describe("A second request with the same key creates nothing and answers 200."),
  metadata: z.record(z.string(), z.unknown()).nullish().describe("Opaque; echoed in events."),
});

const messageIdParams = z.strictObject({ id: idParam.describe("The outbox id.") });

const notFound = { description: "No such message", schema: errorSchema };

export function messageRoutes(api: ApiRoutes, ctx: AdminContext): void {
  api.add({
    method: "get",
    path: "/messages",
    scope: "read",
    tag: TAG,
    summary: "Search deliveries",
    description: "Deliveries (one per recipient) with their message's sender and subject, " +
      "newest first, filtered, one page at a time: pass `next_cursor` back as `cursor`.",
    query: searchQuery,
    responses: {
      200: {
        description: "A page",
        schema: z.object({
          deliveries: z.array(deliverySchema),
          next_cursor: z.string().nullable(),
        }),
      },
      400: { description: "Invalid parameter", schema: errorSchema },
    },
  }, async (c, { query: q }) => {
    if (q.cursor && q.cursor.order !== q.order) {
      throw new RequestError(
        400,
        `Invalid query parameter 'cursor': it was made for order=${q.cursor.order}`,
        "cursor",
      );
    }
    const page = await searchDeliveries(ctx.db, {
      status: q.status,
      domain: q.domain,
      recipient: q.recipient,
      since: q.since,
      until: q.until,
    }, { limit: q.limit, after: q.cursor?.after, order: q.order });
    return c.json({
      deliveries: page.rows,
      next_cursor: page.next === null ? null : encodeCursor({ after: page.next, order: q.order }),
    });
  });

  api.add({
    method: "get",
    path: "/messages/:id",
    scope: "read",
    tag: TAG,
    summary: "One message with every delivery and its events",
    params: messageIdParams,
    responses: {
      200: {
        description: "The message",
        schema: z.object({
          message: z.record(z.string(), z.unknown()),
          deliveries: z.array(deliverySchema.extend({ events: z.array(eventSchema) })),
        }),
      },
      404: notFound,
    },
  }, async (c, { params }) => {
    const detail = await getMessage(ctx.db, params.id);
    if (!detail) throw new RequestError(404, `No message with id ${params.id}`);
    return c.json(detail);
  });

  api.add({
    method: "post",
    path: "/messages",
    scope: "send",
    tag: TAG,
    summary: "Enqueue a message",
    description: "Inserts a row into ferry.outbox, as an application would. The row is " +
      "checked with ingestion's own rules first, so a bad address is a 400 here rather " +
      "than a rejected delivery later.",
    body: newMessageSchema,
    responses: {
      201: { description: "Created", schema: z.object({ id: z.number(), status: z.string() }) },
      200: {
        description: "A message with this idempotency_key exists; nothing was created",
        schema: z.object({ id: z.number(), status: z.literal("duplicate") }),
      },
      400: { description: "Invalid message", schema: errorSchema },
    },
  }, async (c, { body: m }) => {
    const raw = m.raw_message ? Buffer.from(m.raw_message, "base64") : null;
    checkMessage(m, raw, ctx);
    const result = await insertMessage(ctx.db, {
      ...m,
      raw_message: raw,
      send_at: m.send_at ?? undefined,
    });
    if (result.kind === "duplicate") return c.json({ id: result.id, status: "duplicate" }, 200);
    ctx.hooks.wake?.();
    return c.json({ id: result.id, status: "created" }, 201);
  });

  api.add({
    method: "post",
    path: "/messages/:id/retry",
    scope: "operate",
    tag: TAG,
    summary: "Retry a message now",
    description: "Every deferred or queued delivery becomes due now; bounced, expired and " +
      "cancelled ones are queued again. Delivered, suppressed and rejected ones stay.",
    params: messageIdParams,
    responses: {
      200: {
        description: "Done",
        schema: z.object({ outbox_id: z.number(), retried: z.number() }),
      },
      404: notFound,
    },
  }, async (c, { params }) => {
    await mustExist(ctx, params.id);
    const r = await bulkAction(ctx.db, "retry", {
      outboxId: params.id,
      status: ACTIONABLE.retry,
    }, { now: ctx.now(), lifetimeMs: ctx.maxLifetimeMs, actor: actorOf(c) });
    await audit(ctx, c, {
      action: "retry",
      target: String(params.id),
      detail: { retried: r.affected },
    });
    if (r.affected > 0) ctx.hooks.flushed?.();
    return c.json({ outbox_id: params.id, retried: r.affected });
  });

  api.add({
    method: "post",
    path: "/messages/:id/cancel",
    scope: "operate",
    tag: TAG,
    summary: "Cancel a message",
    description: "Cancels every queued or deferred delivery; deliveries on the wire finish.",
    params: messageIdParams,
    responses: {
      200: {
        description: "Done",
        schema: z.object({ outbox_id: z.number(), cancelled: z.number(), in_flight: z.number() }),
      },
      404: notFound,
    },
  }, async (c, { params }) => {
    await mustExist(ctx, params.id);
    const r = await cancelMessage(ctx.db, params.id, { now: ctx.now(), actor: actorOf(c) });
    await audit(ctx, c, {
      action: "cancel",
      target: String(params.id),
      detail: { cancelled: r.cancelled, in_flight: r.inFlight },
    });
    for (let i = 0; i < r.cancelled; i++) ctx.metrics.recordOutcome("cancelled");
    return c.json({ outbox_id: params.id, cancelled: r.cancelled, in_flight: r.inFlight });
  });
}

async function mustExist(ctx: AdminContext, id: number): Promise<void> {
  if (!await messageExists(ctx.db, id)) throw new RequestError(404, `No message with id ${id}`);
}

/** Ingestion's rules, applied before the insert so the caller hears about a bad row. */
function checkMessage(
  m: z.output<typeof newMessageSchema>,
  raw: Uint8Array | null,
  ctx: AdminContext,
): void {
  const bytes = (s: string | null | undefined) => s ? new TextEncoder().encode(s).length : 0;
  const headers = m.headers ?? null;
  const verdict = validateRow({
    id: 0,
    from_address: m.from_address,
    to_addresses: m.to_addresses,
    cc_addresses: m.cc_addresses,
    bcc_addresses: m.bcc_addresses,
    reply_to: m.reply_to ?? null,
    subject: m.subject ?? null,
    has_text: m.text_body != null,
    has_html: m.html_body != null,
    headers,
    has_raw: raw !== null,
    has_attachments: m.attachments != null,
    attachments: m.attachments ?? null,
    size: (raw?.length ?? 0) + bytes(m.subject) + bytes(m.text_body) + bytes(m.html_body) +
      (headers ? bytes(JSON.stringify(headers)) : 0) +
      (m.attachments ? bytes(JSON.stringify(m.attachments)) : 0),
    priority: m.priority,
    require_tls: m.require_tls,
    list_unsubscribe: m.list_unsubscribe,
  }, ctx.limits);
  if (m.list_unsubscribe && !ctx.listUnsubscribe) {
    throw new RequestError(
      400,
      "Invalid message: list_unsubscribe is set but one-click unsubscribe is not configured on " +
        "this relay (unsubscribe.publicUrl and unsubscribe.secret or secretFile)",
      "list_unsubscribe",
    );
  }
  if (verdict.kind === "rejected") {
    const field = /^(\w+)/.exec(verdict.reason.replace(/^invalid /, ""))?.[1];
    const known = field && field in newMessageSchema.shape ? field : undefined;
    throw new RequestError(400, `Invalid message: ${verdict.reason}`, known);
  }
  for (const r of verdict.recipients) {
    if (r.ok) continue;
    const field = (["to_addresses", "cc_addresses", "bcc_addresses"] as const)
      .find((f) => m[f].includes(r.input));
    throw new RequestError(
      400,
      `Invalid body field '${field}': ${JSON.stringify(r.input)} is an ${r.reason}`,
      field,
    );
  }
}
