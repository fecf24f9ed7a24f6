/**
 * `/api/v1/bulk/cancel` and `/api/v1/bulk/retry`: act on every delivery matching a filter,
 * with a dry run that counts first. The work runs in batches of short statements
 * (db/admin_queries.ts), so a filter matching 100,000 rows never holds a long lock; `limit`
 * caps one call so a client can show progress and call again.
 *
 * A filter must say something: an empty one is refused unless `all: true` (the CLI's
 * `queue cancel ALL`), so a forgotten field cannot cancel the whole queue.
 *
 * @module
 */
import { z } from "zod";
import {
  ACTIONABLE,
  type BulkAction,
  bulkAction,
  countActionable,
  DEFAULT_STATUSES,
} from "../../db/admin_queries.ts";
import { actorOf, type ApiRoutes, RequestError } from "./api_route.ts";
import { audit } from "./audit.ts";
import type { AdminContext } from "./deps.ts";
import { domainSchema, errorSchema, instantSchema, statusSchema } from "./schemas.ts";

const bulkBody = z.strictObject({
  status: z.array(statusSchema).min(1).optional(),
  domain: domainSchema.optional(),
  recipient: z.string().min(1).max(998).optional(),
  since: instantSchema.optional().describe("Queued at or after."),
  until: instantSchema.optional().describe("Queued before."),
  all: z.boolean().default(false).describe("Required to act with no other filter."),
  dryRun: z.boolean().default(false).describe("Only count what would change."),
  maxId: z.number().int().positive().optional()
    .describe("Only deliveries up to this id: pass the dry run's maxId to freeze the set."),
  limit: z.number().int().min(1).max(1_000_000).optional()
    .describe("Most rows changed by this call; `done: false` means call again."),
  reason: z.string().min(1).max(500).optional().describe("Recorded in last_reply (cancel)."),
});

const result = z.object({
  action: z.enum(["cancel", "retry"]),
  dryRun: z.boolean(),
  matched: z.number().optional().describe("Dry run: rows that would change."),
  maxId: z.number().nullable().optional().describe("Dry run: the highest id among them."),
  affected: z.number().optional(),
  done: z.boolean().optional(),
});

export function bulkRoutes(api: ApiRoutes, ctx: AdminContext): void {
  for (const action of ["cancel", "retry"] as const) {
    api.add({
      method: "post",
      path: `/bulk/${action}`,
      scope: "operate",
      tag: "bulk",
      summary: action === "cancel"
        ? "Cancel every delivery matching a filter"
        : "Retry every delivery matching a filter",
      description: `Statuses allowed: ${ACTIONABLE[action].join(", ")} (default ${
        DEFAULT_STATUSES[action].join(", ")
      }).`,
      body: bulkBody,
      responses: {
        200: { description: "Counted (dry run) or done", schema: result },
        400: { description: "Invalid filter", schema: errorSchema },
      },
    }, async (c, { body: b }) => {
      checkFilter(action, b);
      const filter = {
        status: b.status,
        domain: b.domain,
        recipient: b.recipient,
        since: b.since,
        until: b.until,
        maxId: b.maxId,
      };
      if (b.dryRun) {
        const { matched, maxId } = await countActionable(ctx.db, action, filter, ctx.now());
        return c.json({ action, dryRun: true, matched, maxId });
      }
      const r = await bulkAction(ctx.db, action, filter, {
        now: ctx.now(),
        maxRows: b.limit,
        reason: b.reason,
        lifetimeMs: ctx.maxLifetimeMs,
        actor: actorOf(c),
      });
      await audit(ctx, c, {
        action,
        target: null,
        detail: {
          filter: { ...filter, all: b.all },
          ...(b.reason ? { reason: b.reason } : {}),
          affected: r.affected,
          done: r.done,
        },
      });
      if (action === "retry" && r.affected > 0) ctx.hooks.flushed?.(b.domain);
      if (action === "cancel") {
        for (let i = 0; i < r.affected; i++) ctx.metrics.recordOutcome("cancelled");
      }
      return c.json({ action, dryRun: false, affected: r.affected, done: r.done });
    });
  }
}

function checkFilter(action: BulkAction, b: z.output<typeof bulkBody>): void {
  const bad = (b.status ?? []).filter((s) => !ACTIONABLE[action].includes(s));
  if (bad.length > 0) {
    throw new RequestError(
      400,
      `Invalid body field 'status': cannot ${action} ${bad.join(", ")} deliveries (allowed: ${
        ACTIONABLE[action].join(", ")
      })`,
      "status",
    );
  }
  const narrowed = b.status || b.domain || b.recipient || b.since || b.until;
  if (!narrowed && !b.all) {
    throw new RequestError(
      400,
      `Cannot ${action} without a filter: set status, domain, recipient, since or until, ` +
        `or all: true`,
      "all",
    );
  }
}
