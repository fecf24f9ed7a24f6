/**
 * The admin HTTP API (Hono). Open: `/livez` (alias `/healthz`), `/readyz`, `/metrics` (Prometheus scrapers rarely carry a
 * token; it holds counts, no addresses), and the two pages `/dashboard` and `/docs`, which are
 * static and fetch their data from the API with a token. Everything under `/api/` needs a bearer
 * token: `FERRY_ADMIN_TOKEN` (acting as an `admin` key named `bootstrap`) or an API key, whose
 * scopes must cover the route's (403 otherwise). One error boundary turns every failure into
 * `{ "error": "..." }`.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { systemClock } from "../../lib/clock.ts";
import { DEFAULT_LIMITS } from "../../lib/message/validate.ts";
import { DEFAULT_MAX_LIFETIME_MS } from "../../db/ingest.ts";
import { createMetrics } from "../metrics/mod.ts";
import { ApiRoutes, type RegisteredRoute, RequestError, ScopeError } from "./api_route.ts";
import { authenticate } from "./auth.ts";
import { bulkRoutes } from "./bulk_routes.ts";
import { dashboardPage } from "./dashboard_page.ts";
import type { AdminContext, AdminDeps } from "./deps.ts";
import { docsPage } from "./docs_page.ts";
import { domainRoutes } from "./domain_routes.ts";
import { eventRoutes } from "./event_routes.ts";
import { keyRoutes } from "./key_routes.ts";
import { messageRoutes } from "./message_routes.ts";
import { openApiDocument } from "./openapi.ts";
import { suppressionRoutes } from "./suppression_routes.ts";
import { senderRoutes } from "./sender_routes.ts";

export type { AdminDeps } from "./deps.ts";

const API = "/api/v1";
const VERSION = "1.0.0";

// The routes of each app with their scopes, for the test that proves every route has one.
const registeredRoutes = new WeakMap<Hono, readonly RegisteredRoute[]>();

/** The API routes `app` registered, each with the scope it requires (paths under `/api/v1`). */
export function apiRoutesOf(app: Hono): readonly RegisteredRoute[] {
  return registeredRoutes.get(app) ?? [];
}

export function adminApp(deps: AdminDeps): Hono {
  const clock = deps.clock ?? systemClock;
  const metrics = deps.metrics ?? createMetrics({ db: deps.db, clock });
  const ctx: AdminContext = {
    db: deps.db,
    clock,
    metrics,
    domains: deps.domains,
    hooks: deps.hooks ?? {},
    alerts: deps.alerts,
    ...(deps.senders ? { senders: deps.senders } : {}),
    limits: deps.limits ?? DEFAULT_LIMITS,
    maxLifetimeMs: deps.maxLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS,
    eventPollMs: deps.eventPollMs ?? 1000,
    listUnsubscribe: deps.listUnsubscribe ?? false,
    now: () => new Date(clock.now()),
  };

  const app = new Hono();
  app.onError((err, c) => {
    if (err instanceof RequestError) {
      return c.json({
        error: err.message,
        ...(err.field ? { field: err.field } : {}),
        ...(err.issues ? { issues: err.issues } : {}),
      }, err.status);
    }
    if (err instanceof ScopeError) {
      return c.json({ error: err.message, required_scope: err.scope }, 403);
    }
    if (err instanceof HTTPException) return c.json({ error: err.message }, err.status);
    return c.json({ error: "internal error" }, 500);
  });
  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));

  // Kubernetes' probes: liveness is "the process answers" (restarting it would not bring the
  // database back); readiness is "it can do its work now".
  const live = (c: Context) => c.json({ status: "ok" });
  app.get("/livez", live);
  app.get("/healthz", live);
  app.get("/readyz", async (c) => {
    const r = await deps.ready();
    return r.ready
      ? c.json({ status: "ready" })
      : c.json({ status: "unready", reason: r.reason }, 503);
  });
  app.get("/metrics", async (c) =>
    c.body(await metrics.render(), 200, {
      "content-type": metrics.contentType,
    }));
  app.get("/dashboard", (c) => c.html(dashboardPage()));

  // Who is calling; what they may do is each route's check (api_route.ts), which knows its scope.
  app.use("/api/*", async (c, next) => {
    const auth = await authenticate(ctx.db, c.req.header("authorization"), deps.token, ctx.now());
    if (auth.kind === "denied") {
      return c.json({ error: auth.error }, 401, { "www-authenticate": "Bearer" });
    }
    c.set("principal", auth.principal);
    await next();
    return undefined;
  });

  const api = new Hono();
  const routes = new ApiRoutes(api, API);
  domainRoutes(routes, ctx);
  messageRoutes(routes, ctx);
  bulkRoutes(routes, ctx);
  suppressionRoutes(routes, ctx);
  eventRoutes(routes, ctx);
  keyRoutes(routes, ctx);
  senderRoutes(routes, ctx);

  let doc: Record<string, unknown> | undefined;
  const openApi = () => doc ??= openApiDocument(routes, VERSION);
  routes.plain("get", "/openapi.json", "read", (c) => c.json(openApi()));
  app.get("/docs", (c) => c.html(docsPage(openApi())));
  app.route(API, api);
  registeredRoutes.set(app, routes.registered);
  return app;
}
