/**
 * The admin HTTP API (Hono). `GET /healthz` is open; everything under `/api/` needs the bearer
 * token. One error boundary turns every failure into `{ "error": "..." }`.
 *
 * @module
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Db } from "../../db/client.ts";
import { countByStatus } from "../../db/queue.ts";
import { bearerMatches } from "./auth.ts";

export interface AdminDeps {
  readonly db: Db;
  readonly token: string;
  /** Whether the relay is ready (migrated, loops running). */
  readonly ready: () => boolean;
}

export function adminApp(deps: AdminDeps): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    if (err instanceof HTTPException) return c.json({ error: err.message }, err.status);
    return c.json({ error: "internal error" }, 500);
  });
  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));

  app.get(
    "/healthz",
    (c) => deps.ready() ? c.json({ status: "ok" }) : c.json({ status: "starting" }, 503),
  );

  app.use("/api/*", async (c, next) => {
    if (!bearerMatches(c.req.header("authorization"), deps.token)) {
      return c.json({ error: "missing or wrong bearer token" }, 401, {
        "www-authenticate": "Bearer",
      });
    }
    await next();
    return undefined;
  });

  app.get("/api/v1/queue", async (c) => c.json({ counts: await countByStatus(deps.db) }));
  return app;
}
