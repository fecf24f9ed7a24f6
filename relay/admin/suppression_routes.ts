/**
 * `/api/v1/suppressions`: the addresses Ferry will not send to (list, add, remove). Ingestion
 * turns a delivery to a suppressed address into `suppressed` instead of queueing it. An entry
 * with a `sender_domain` (a one-click unsubscribe makes one) only stops mail whose From is in
 * that domain; one without stops all mail to the address.
 *
 * @module
 */
import { z } from "zod";
import { parseMailbox } from "../../lib/message/address.ts";
import { addSuppression, listSuppressions, removeSuppression } from "../../db/admin_queries.ts";
import { type ApiRoutes, RequestError } from "./api_route.ts";
import { audited } from "./audit.ts";
import { cursorParam, encodeCursor } from "./cursor.ts";
import type { AdminContext } from "./deps.ts";
import { errorSchema, instantSchema, limitParam } from "./schemas.ts";

const TAG = "suppressions";
// The one address grammar of ingestion: a suppression that could never match is refused.
const address = z.string().trim().min(1).max(998).superRefine((value, ctx) => {
  const parsed = parseMailbox(value);
  if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.reason });
  else if (parsed.mailbox.name !== "" || value.includes("<")) {
    ctx.addIssue({
      code: "custom",
      message: `${JSON.stringify(value)}: expected a bare address like user@example.com`,
    });
  }
});

// A sender domain as ingestion compares it: the From domain, lower-case.
const senderDomain = z.string().trim().toLowerCase().regex(
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/,
  "expected a domain name like newsletters.example.com",
);

const suppressionSchema = z.object({
  address: z.string(),
  reason: z.string(),
  source: z.string().describe("manual, bounce, complaint, unsubscribe..."),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  sender_domain: z.string().nullable().describe(
    "Only mail whose From is in this domain is stopped; null: all mail to the address.",
  ),
});

export function suppressionRoutes(api: ApiRoutes, ctx: AdminContext): void {
  api.add({
    method: "get",
    path: "/suppressions",
    scope: "read",
    tag: TAG,
    summary: "List suppressed addresses",
    query: z.strictObject({
      prefix: z.string().min(1).max(998).optional().describe("Addresses starting with this."),
      limit: limitParam(1000, 100),
      cursor: cursorParam(z.object({ after: z.string(), scope: z.string().default("") }))
        .optional(),
    }),
    responses: {
      200: {
        description: "A page, by address",
        schema: z.object({
          suppressions: z.array(suppressionSchema),
          next_cursor: z.string().nullable(),
        }),
      },
    },
  }, async (c, { query }) => {
    const page = await listSuppressions(ctx.db, {
      limit: query.limit,
      ...(query.cursor
        ? { after: { address: query.cursor.after, scope: query.cursor.scope } }
        : {}),
      prefix: query.prefix,
    });
    return c.json({
      suppressions: page.rows,
      next_cursor: page.next === null
        ? null
        : encodeCursor({ after: page.next.address, scope: page.next.scope }),
    });
  });

  api.add({
    method: "post",
    path: "/suppressions",
    scope: "operate",
    tag: TAG,
    summary: "Suppress an address",
    description: "Adds or replaces the entry. New mail to the address is not sent; " +
      "deliveries already queued are not touched (cancel them with /bulk/cancel).",
    body: z.strictObject({
      address,
      reason: z.string().trim().min(1).max(500),
      expires_at: instantSchema.nullish().describe("Lifted automatically at this time."),
      sender_domain: senderDomain.nullish().describe(
        "Stop only mail whose From is in this domain; absent or null: all mail.",
      ),
    }),
    responses: {
      201: { description: "Suppressed", schema: z.object({ suppression: suppressionSchema }) },
      400: { description: "Invalid request", schema: errorSchema },
    },
  }, async (c, { body }) => {
    const suppression = await audited(
      ctx,
      c,
      (db) =>
        addSuppression(db, {
          address: body.address,
          reason: body.reason,
          expiresAt: body.expires_at ?? null,
          senderDomain: body.sender_domain ?? null,
          now: ctx.now(),
        }),
      (s) => ({
        action: "suppress",
        target: s.address,
        detail: { reason: s.reason, expires_at: s.expires_at, sender_domain: s.sender_domain },
      }),
    );
    return c.json({ suppression }, 201);
  });

  api.add({
    method: "delete",
    path: "/suppressions/:address",
    scope: "operate",
    tag: TAG,
    summary: "Remove a suppression",
    description: "Removes the entry for all mail, or with `sender_domain` the one scoped to it.",
    params: z.strictObject({ address }),
    query: z.strictObject({ sender_domain: senderDomain.optional() }),
    responses: {
      200: {
        description: "Removed",
        schema: z.object({
          address: z.string(),
          sender_domain: z.string().nullable(),
          removed: z.literal(true),
        }),
      },
      404: { description: "The address was not suppressed", schema: errorSchema },
    },
  }, async (c, { params, query }) => {
    const scope = query.sender_domain ?? null;
    const removed = await audited(
      ctx,
      c,
      (db) => removeSuppression(db, params.address, scope),
      (removed) =>
        removed
          ? {
            action: "unsuppress",
            target: params.address.toLowerCase(),
            detail: scope === null ? null : { sender_domain: scope },
          }
          : undefined,
    );
    if (!removed) {
      throw new RequestError(
        404,
        scope === null
          ? `${params.address} is not suppressed for all mail`
          : `${params.address} is not suppressed for mail from ${scope}`,
      );
    }
    return c.json({ address: params.address.toLowerCase(), sender_domain: scope, removed: true });
  });
}
