/**
 * `GET /api/v1/senders`: the per-sender limits (config `senders`) as this instance sees them:
 * each sender's rates and transaction cap, its transactions in flight here, the cells this
 * instance holds, when the next may go, and how often its mail had to wait.
 *
 * @module
 */
import { z } from "zod";
import type { ApiRoutes } from "./api_route.ts";
import type { AdminContext } from "./deps.ts";

const UNIT = new Map([[1_000, "s"], [60_000, "m"], [3_600_000, "h"], [86_400_000, "d"]]);

const senderSchema = z.object({
  sender: z.string().describe('A sender domain or "tenant:<name>", as configured.'),
  rates: z.array(z.string()).describe('The rates as configured, e.g. "10/s".'),
  max_connections: z.number().nullable(),
  in_flight: z.number().describe("Transactions of this sender in flight on this instance."),
  available: z.number().describe("Messages this instance may send for it right now."),
  next_free_at: z.string().nullable().describe("When the next may go; null: waits for a slice."),
  waits: z.number().describe("Times its mail was held back since this instance started."),
});

export function senderRoutes(api: ApiRoutes, ctx: AdminContext): void {
  api.add({
    method: "get",
    path: "/senders",
    scope: "read",
    tag: "senders",
    summary: "Per-sender limits and how they hold mail back",
    responses: {
      200: {
        description: "Every configured sender; `live` false when no relay runs here",
        schema: z.object({ senders: z.array(senderSchema), live: z.boolean() }),
      },
    },
  }, (c) => {
    const senders = ctx.senders?.();
    return c.json({
      senders: (senders ?? []).map((s) => ({
        sender: s.key,
        rates: s.rates.map((r) =>
          `${r.count}/${UNIT.get(r.perMs) ?? `${r.perMs}ms`}` +
          (r.burst > 1 ? ` (burst ${r.burst})` : "")
        ),
        max_connections: s.maxConnections,
        in_flight: s.inFlight,
        available: s.available,
        next_free_at: s.nextFreeAt === null ? null : new Date(s.nextFreeAt).toISOString(),
        waits: s.waits,
      })),
      live: senders !== undefined,
    });
  });
}
