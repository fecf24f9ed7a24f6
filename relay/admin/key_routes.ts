/**
 * `/api/v1/keys`: issue, list and revoke the admin API's keys (scope `admin`), and
 * `/api/v1/audit`: the operator actions they took.
 *
 * A key's token is in the answer to its creation and nowhere else: neither the database, nor a
 * list, nor the audit trail holds it.
 *
 * @module
 */
import { z } from "zod";
import { insertApiKey, listApiKeys, revokeApiKey } from "../../db/api_keys.ts";
import { AUDIT_ACTIONS, listAudit } from "../../db/audit.ts";
import { API_KEY_SCOPES } from "../../db/schema.ts";
import { type ApiRoutes, RequestError } from "./api_route.ts";
import { audited } from "./audit.ts";
import { BOOTSTRAP_NAME, mintApiKey } from "./auth.ts";
import { cursorParam, encodeCursor } from "./cursor.ts";
import type { AdminContext } from "./deps.ts";
import { errorSchema, limitParam } from "./schemas.ts";

const TAG = "keys";
const date = z.string().describe("ISO 8601 date-time");

// Names go into URLs (DELETE /keys/{name}) and the audit trail: kept plain.
const keyName = z.string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    "expected 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
  )
  .refine((n) => n !== BOOTSTRAP_NAME, `'${BOOTSTRAP_NAME}' is FERRY_ADMIN_TOKEN's name`);

const scopeSchema = z.enum(API_KEY_SCOPES);

const keySchema = z.object({
  name: z.string(),
  scopes: z.array(scopeSchema),
  prefix: z.string().describe("The start of the key's token (`fy_<id>`), to tell keys apart."),
  created_at: date,
  revoked_at: date.nullable(),
  last_used_at: date.nullable().describe("Updated at most once a minute."),
});

export function keyRoutes(api: ApiRoutes, ctx: AdminContext): void {
  api.add({
    method: "post",
    path: "/keys",
    scope: "admin",
    tag: TAG,
    summary: "Create an API key",
    description: "Answers the key's token, `fy_<id>_<secret>`, this once: only a hash of its " +
      "secret is kept. Scopes: `read` (GET routes), `send` (enqueue), `operate` (cancel, " +
      "retry, flush, suspend, resume, suppress), `admin` (everything, keys included).",
    body: z.strictObject({
      name: keyName,
      scopes: z.array(scopeSchema).min(1).max(API_KEY_SCOPES.length)
        .transform((s) => API_KEY_SCOPES.filter((x) => s.includes(x))),
    }),
    responses: {
      201: {
        description: "Created",
        schema: keySchema.extend({
          token: z.string().describe("Send as `Authorization: Bearer <token>`; shown once."),
        }),
      },
      400: { description: "Invalid request", schema: errorSchema },
      409: { description: "A key (revoked or not) has this name", schema: errorSchema },
    },
  }, async (c, { body }) => {
    const minted = mintApiKey();
    const r = await audited(
      ctx,
      c,
      (db) =>
        insertApiKey(db, {
          id: minted.id,
          name: body.name,
          scopes: body.scopes,
          hash: minted.hash,
          prefix: minted.prefix,
          now: ctx.now(),
        }),
      (r) =>
        r.kind === "created"
          ? {
            action: "key.create",
            target: r.key.name,
            detail: { scopes: r.key.scopes, prefix: r.key.prefix },
          }
          : undefined,
    );
    if (r.kind === "name-taken") {
      throw new RequestError(
        409,
        `A key named '${body.name}' exists (names of revoked keys are not reused)`,
        "name",
      );
    }
    return c.json({ ...r.key, token: minted.token }, 201);
  });

  api.add({
    method: "get",
    path: "/keys",
    scope: "admin",
    tag: TAG,
    summary: "List API keys",
    description: "Every key, revoked ones included, by name; never a secret.",
    responses: {
      200: { description: "The keys", schema: z.object({ keys: z.array(keySchema) }) },
    },
  }, async (c) => c.json({ keys: await listApiKeys(ctx.db) }));

  api.add({
    method: "delete",
    path: "/keys/:name",
    scope: "admin",
    tag: TAG,
    summary: "Revoke an API key",
    description: "Its token is refused (401) from the next request on. Revoking a revoked key " +
      "changes nothing and answers its first revocation.",
    params: z.strictObject({ name: z.string().min(1).max(64) }),
    responses: {
      200: {
        description: "Revoked",
        schema: z.object({ name: z.string(), revoked: z.literal(true), revoked_at: date }),
      },
      404: { description: "No key has this name", schema: errorSchema },
    },
  }, async (c, { params }) => {
    const r = await audited(
      ctx,
      c,
      (db) => revokeApiKey(db, params.name, ctx.now()),
      (r) =>
        r.kind === "revoked"
          ? { action: "key.revoke", target: r.key.name, detail: { prefix: r.key.prefix } }
          : undefined,
    );
    if (r.kind === "unknown") throw new RequestError(404, `No API key named '${params.name}'`);
    return c.json({ name: r.key.name, revoked: true, revoked_at: r.key.revoked_at });
  });

  api.add({
    method: "get",
    path: "/audit",
    scope: "read",
    tag: "audit",
    summary: "Operator actions, newest first",
    description: "One entry per cancel, retry, flush, suspend, resume, suppress, unsuppress, " +
      "key creation and revocation, naming the key that acted (`bootstrap` for " +
      "FERRY_ADMIN_TOKEN). Delivery events an action caused carry the same name as `actor`.",
    query: z.strictObject({
      actor: z.string().min(1).max(64).optional().describe("Only this key's actions."),
      action: z.enum(AUDIT_ACTIONS).optional(),
      limit: limitParam(1000, 100),
      cursor: cursorParam(z.object({ before: z.number().int() })).optional(),
    }),
    responses: {
      200: {
        description: "A page",
        schema: z.object({
          entries: z.array(z.object({
            id: z.number(),
            at: date,
            actor: z.string(),
            action: z.enum(AUDIT_ACTIONS),
            target: z.string().nullable(),
            detail: z.record(z.string(), z.unknown()).nullable(),
          })),
          next_cursor: z.string().nullable(),
        }),
      },
    },
  }, async (c, { query }) => {
    const page = await listAudit(ctx.db, {
      limit: query.limit,
      before: query.cursor?.before,
      actor: query.actor,
      action: query.action,
    });
    return c.json({
      entries: page.rows,
      next_cursor: page.next === null ? null : encodeCursor({ before: page.next }),
    });
  });
}
