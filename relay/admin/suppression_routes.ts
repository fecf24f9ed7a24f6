/**
 * `/api/v1/suppressions`: the addresses Ferry will not send to (list, add, remove). Ingestion
 * turns a delivery to a suppressed address into `suppressed` instead of queueing it.
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

const suppressionSchema = z.object({
  address: z.string(),
  reason: z.string(),
  source: z.string().describe("manual, bounce, complaint..."),
  created_at: z.string(),
  expires_at: z.string().nullable(),
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
      cursor: cursorParam(z.object({ after: z.string() })).optional(),
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
      after: query.cursor?.after,
      prefix: query.prefix,
    });
    return c.json({
      suppressions: page.rows,
      next_cursor: page.next === null ? null : encodeCursor({ after: page.next }),
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
          now: ctx.now(),
        }),
      (s) => ({
        action: "suppress",
        target: s.address,
        detail: { reason: s.reason, expires_at: s.expires_at },
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
    params: z.strictObject({ address }),
    responses: {
      200: {
        description: "Removed",
        schema: z.object({ address: z.string(), removed: z.literal(true) }),
      },
      404: { description: "The address was not suppressed", schema: errorSchema },
    },
  }, async (c, { params }) => {
    const removed = await audited(
      ctx,
      c,
      (db) => removeSuppression(db, params.address),
      (removed) =>
        removed
          ? { action: "unsuppress", target: params.address.toLowerCase(), detail: null }
          : undefined,
    );
    if (!removed) {
      throw new RequestError(404, `${params.address} is not suppressed`);
    }
    return c.json({ address: params.address.toLowerCase(), removed: true });
  });
}
