/**
 * `/api/v1/queue`, `/api/v1/flush` and `/api/v1/domains`: what waits, where, and the operator's
 * levers on a destination (suspend, resume, flush). Per-domain state merges the database's
 * counts and suspensions with the live actor state from the {@link DomainStateProvider} port.
 *
 * @module
 */
import { z } from "zod";
import {
  activeSuspensions,
  bulkAction,
  type DomainCounts,
  domainCounts,
  lastReplyOf,
  resumeDomain,
  suspendDomain,
  type Suspension,
} from "../../db/admin_queries.ts";
import { queueGauges } from "../../db/admin_stats.ts";
import { countByStatus } from "../../db/queue.ts";
import { actorOf, type ApiRoutes } from "./api_route.ts";
import { audit, audited } from "./audit.ts";
import type { AdminContext } from "./deps.ts";
import { type LiveDomainState, liveStateJson } from "./domain_state.ts";
import {
  domainSchema,
  domainStateSchema,
  errorSchema,
  limitParam,
  statusSchema,
} from "./schemas.ts";

const domainParams = z.strictObject({ domain: domainSchema });

export function domainRoutes(api: ApiRoutes, ctx: AdminContext): void {
  api.add({
    method: "get",
    path: "/queue",
    scope: "read",
    tag: "queue",
    summary: "Counts by status and the busiest domains",
    query: z.strictObject({
      top: limitParam(100, 10).describe("How many of the busiest domains (1..100, default 10)."),
    }),
    responses: {
      200: {
        description: "The queue",
        schema: z.object({
          counts: z.record(statusSchema, z.number()),
          oldest_due_age_seconds: z.number().describe("0 when nothing is overdue."),
          busiest_domains: z.array(domainStateSchema.pick({
            domain: true,
            queued: true,
            deferred: true,
            sending: true,
            due: true,
          })),
        }),
      },
    },
  }, async (c, { query }) => {
    const now = ctx.now();
    const [counts, gauges, busiest] = await Promise.all([
      countByStatus(ctx.db),
      queueGauges(ctx.db, now),
      domainCounts(ctx.db, { now, limit: query.top }),
    ]);
    const oldest = gauges.oldestDueAt ? (now.getTime() - gauges.oldestDueAt.getTime()) / 1000 : 0;
    return c.json({
      counts,
      oldest_due_age_seconds: Math.max(0, Math.round(oldest)),
      busiest_domains: busiest.map(({ domain, queued, deferred, sending, due }) => ({
        domain,
        queued,
        deferred,
        sending,
        due,
      })),
    });
  });

  api.add({
    method: "post",
    path: "/flush",
    scope: "operate",
    tag: "queue",
    summary: "Retry everything deferred now (postqueue -f)",
    description: "Queued mail scheduled for later (send_at) keeps its time.",
    responses: { 200: { description: "Done", schema: z.object({ rescheduled: z.number() }) } },
  }, async (c) => {
    const r = await bulkAction(ctx.db, "retry", { status: ["deferred"] }, {
      now: ctx.now(),
      actor: actorOf(c),
    });
    await audit(ctx, c, { action: "flush", target: null, detail: { rescheduled: r.affected } });
    ctx.hooks.flushed?.();
    return c.json({ rescheduled: r.affected });
  });

  api.add({
    method: "get",
    path: "/domains",
    scope: "read",
    tag: "domains",
    summary: "Per-domain state",
    description: "Domains with waiting deliveries, suspended domains and domains with a live " +
      "actor; busiest first.",
    query: z.strictObject({ limit: limitParam(1000, 100) }),
    responses: {
      200: {
        description: "The domains",
        schema: z.object({ domains: z.array(domainStateSchema), live: z.boolean() }),
      },
    },
  }, async (c, { query }) => {
    const now = ctx.now();
    const [counts, suspensions, live] = await Promise.all([
      domainCounts(ctx.db, { now, limit: query.limit }),
      activeSuspensions(ctx.db, now),
      ctx.domains ? ctx.domains.domainState() : [],
    ]);
    const states = merge(counts, suspensions, live)
      .sort((a, b) =>
        waiting(b) - waiting(a) || liveLoad(b) - liveLoad(a) || a.domain.localeCompare(b.domain)
      )
      .slice(0, query.limit);
    return c.json({ domains: states, live: ctx.domains !== undefined });
  });

  api.add({
    method: "get",
    path: "/domains/:domain",
    scope: "read",
    tag: "domains",
    summary: "One domain's state",
    params: domainParams,
    responses: {
      200: {
        description: "The domain (zeros when nothing is known of it)",
        schema: domainStateSchema,
      },
      400: { description: "Not a domain name", schema: errorSchema },
    },
  }, async (c, { params }) => {
    const now = ctx.now();
    const [counts, suspensions, live, last] = await Promise.all([
      domainCounts(ctx.db, { now, limit: 1, domain: params.domain }),
      activeSuspensions(ctx.db, now, params.domain),
      ctx.domains ? ctx.domains.domainState(params.domain) : [],
      lastReplyOf(ctx.db, params.domain),
    ]);
    const [state] = merge(counts, suspensions, live.filter((s) => s.domain === params.domain));
    return c.json({ ...(state ?? empty(params.domain)), last_reply: last ?? null });
  });

  api.add({
    method: "post",
    path: "/domains/:domain/suspend",
    scope: "operate",
    tag: "domains",
    summary: "Suspend deliveries to a domain",
    params: domainParams,
    body: z.strictObject({
      minutes: z.number().int().min(1).max(43_200).describe("1 minute to 30 days."),
      reason: z.string().trim().min(1).max(500),
    }),
    responses: {
      200: {
        description: "Suspended",
        schema: z.object({ domain: z.string(), reason: z.string(), until: z.string() }),
      },
      400: { description: "Invalid request", schema: errorSchema },
    },
  }, async (c, { params, body }) => {
    const now = ctx.now();
    const until = new Date(now.getTime() + body.minutes * 60_000);
    const s = await audited(
      ctx,
      c,
      (db) => suspendDomain(db, { domain: params.domain, reason: body.reason, until, now }),
      (s) => ({
        action: "suspend",
        target: s.domain,
        detail: { reason: s.reason, until: s.until, minutes: body.minutes },
      }),
    );
    ctx.hooks.suspended?.(params.domain, until, body.reason);
    return c.json({ domain: s.domain, reason: s.reason, until: s.until });
  });

  api.add({
    method: "post",
    path: "/domains/:domain/resume",
    scope: "operate",
    tag: "domains",
    summary: "Lift a domain's suspension",
    params: domainParams,
    responses: {
      200: {
        description: "Resumed (`resumed: false` when it was not suspended)",
        schema: z.object({ domain: z.string(), resumed: z.boolean() }),
      },
    },
  }, async (c, { params }) => {
    const resumed = await audited(
      ctx,
      c,
      (db) => resumeDomain(db, params.domain),
      (resumed) => ({ action: "resume", target: params.domain, detail: { resumed } }),
    );
    ctx.hooks.resumed?.(params.domain);
    return c.json({ domain: params.domain, resumed });
  });

  api.add({
    method: "post",
    path: "/domains/:domain/flush",
    scope: "operate",
    tag: "domains",
    summary: "Retry a domain's deferred deliveries now",
    params: domainParams,
    responses: {
      200: {
        description: "Done",
        schema: z.object({ domain: z.string(), rescheduled: z.number() }),
      },
    },
  }, async (c, { params }) => {
    const r = await bulkAction(ctx.db, "retry", {
      status: ["deferred"],
      domain: params.domain,
    }, { now: ctx.now(), actor: actorOf(c) });
    await audit(ctx, c, {
      action: "flush",
      target: params.domain,
      detail: { rescheduled: r.affected },
    });
    ctx.hooks.flushed?.(params.domain);
    return c.json({ domain: params.domain, rescheduled: r.affected });
  });
}

type DomainState = Omit<DomainCounts, "oldest_created_at" | "next_attempt_at"> & {
  oldest_created_at: Date | null;
  next_attempt_at: Date | null;
  suspended: { reason: string; until: Date } | null;
  live: Record<string, unknown> | null;
};

function empty(domain: string): DomainState {
  return {
    domain,
    queued: 0,
    deferred: 0,
    sending: 0,
    due: 0,
    oldest_created_at: null,
    next_attempt_at: null,
    suspended: null,
    live: null,
  };
}

function merge(
  counts: readonly DomainCounts[],
  suspensions: readonly Suspension[],
  live: readonly LiveDomainState[],
): DomainState[] {
  const out = new Map<string, DomainState>();
  const get = (d: string) => out.get(d) ?? out.set(d, empty(d)).get(d)!;
  for (const c of counts) Object.assign(get(c.domain), c);
  for (const s of suspensions) get(s.domain).suspended = { reason: s.reason, until: s.until };
  for (const l of live) get(l.domain).live = liveStateJson(l);
  return [...out.values()];
}

const waiting = (s: DomainState) => s.queued + s.deferred + s.sending;
const liveLoad = (s: DomainState) => Number(s.live?.in_flight ?? 0);
