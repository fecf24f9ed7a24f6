/**
 * The live view's data: `GET /api/v1/events` streams delivery events as server-sent events,
 * `GET /api/v1/stats/throughput` gives events per kind in time buckets (the dashboard's chart),
 * `GET /api/v1/alerts` the alerts raised now.
 *
 * The stream tails `ferry.events` by id, polling on the injected clock (`eventPollMs`), so it
 * sees what every instance writes. It ends when the client goes away: the body stream is
 * cancelled, which aborts the pending wait, so no timer outlives the connection.
 *
 * @module
 */
import { z } from "zod";
import { eventsAfter, latestEventId, throughput } from "../../db/admin_stats.ts";
import type { ApiRoutes } from "./api_route.ts";
import type { AdminContext } from "./deps.ts";
import { eventSchema } from "./schemas.ts";

const HEARTBEAT_MS = 15_000;
const BATCH = 200;

export function eventRoutes(api: ApiRoutes, ctx: AdminContext): void {
  api.add({
    method: "get",
    path: "/events",
    scope: "read",
    tag: "live",
    summary: "Delivery events as server-sent events",
    description: "Each event: `id` (the ferry.events id), `event: delivery`, `data` (JSON). " +
      "Starts after `after`, or the `Last-Event-ID` header, or at the newest event.",
    query: z.strictObject({
      after: z.coerce.number().int().min(0).optional().describe("Send events after this id."),
    }),
    responses: {
      200: {
        description: "The stream",
        contentType: "text/event-stream",
        schema: eventSchema,
      },
    },
  }, async (c, { query }) => {
    const header = Number(c.req.header("last-event-id"));
    const after = query.after ??
      (Number.isInteger(header) && header >= 0 ? header : await latestEventId(ctx.db));
    const body = eventStream(ctx, after);
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  });

  api.add({
    method: "get",
    path: "/stats/throughput",
    scope: "read",
    tag: "live",
    summary: "Events per kind in time buckets",
    query: z.strictObject({
      minutes: z.coerce.number().int().min(1).max(1440).default(15),
      bucket: z.coerce.number().int().min(1).max(3600).default(10).describe("Seconds."),
    }),
    responses: {
      200: {
        description: "Buckets, oldest first",
        schema: z.object({
          bucket_seconds: z.number(),
          buckets: z.array(z.object({ at: z.string(), counts: z.record(z.string(), z.number()) })),
        }),
      },
    },
  }, async (c, { query }) => {
    const buckets = await throughput(ctx.db, {
      now: ctx.now(),
      minutes: query.minutes,
      bucketSeconds: query.bucket,
    });
    return c.json({ bucket_seconds: query.bucket, buckets });
  });

  api.add({
    method: "get",
    path: "/alerts",
    scope: "read",
    tag: "live",
    summary: "Alerts raised now",
    responses: {
      200: {
        description: "The alerts (`monitored: false` when no alert monitor runs)",
        schema: z.object({
          monitored: z.boolean(),
          alerts: z.array(z.object({
            name: z.string(),
            domain: z.string().nullable(),
            value: z.number(),
            threshold: z.number(),
            message: z.string(),
            since: z.string(),
          })),
        }),
      },
    },
  }, (c) => c.json({ monitored: ctx.alerts !== undefined, alerts: ctx.alerts?.active() ?? [] }));
}

/**
 * The body stream. A client that goes away makes the server cancel it (`cancel()` below), which
 * aborts the wait in progress.
 */
function eventStream(ctx: AdminContext, from: number) {
  const stop = new AbortController();
  const enc = new TextEncoder();
  let after = from;
  let lastSent = ctx.clock.now();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(enc.encode(`retry: 2000\n: events after ${after}\n\n`));
    },
    // Called whenever the client has taken what was sent: one poll, or one wait.
    async pull(controller) {
      // Bounded: returns after one batch, one heartbeat, or when the client leaves.
      while (!stop.signal.aborted) {
        let chunk = "";
        try {
          const events = await eventsAfter(ctx.db, after, BATCH);
          for (const e of events) {
            chunk += `id: ${e.id}\nevent: delivery\ndata: ${JSON.stringify(e)}\n\n`;
            after = e.id;
          }
        } catch (err) {
          chunk = `event: error\ndata: ${JSON.stringify({ error: (err as Error).message })}\n\n`;
        }
        if (!chunk && ctx.clock.now() - lastSent >= HEARTBEAT_MS) chunk = ": ping\n\n";
        if (chunk) {
          lastSent = ctx.clock.now();
          if (!stop.signal.aborted) controller.enqueue(enc.encode(chunk));
          return;
        }
        await ctx.clock.sleep(ctx.eventPollMs, stop.signal).catch(() => {});
      }
      try {
        controller.close();
      } catch {
        // already cancelled by the client
      }
    },
    cancel() {
      stop.abort();
    },
  }, { highWaterMark: 0 });
}
