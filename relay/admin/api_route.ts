/**
 * One definition per route: its path, the scope a key needs to call it, its Zod schemas (path
 * parameters, query, JSON body, responses) and its handler. The same definition checks the scope
 * (a JSON 403 naming it), validates each request (a JSON 400 naming the field) and feeds the
 * OpenAPI document, so neither the documentation nor the permissions can drift from the code.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { z } from "zod";
import type { ApiKeyScope } from "../../db/schema.ts";
import { allows, type Principal } from "./auth.ts";

// The authentication middleware of `/api/*` (app.ts) sets the caller on every request it lets
// through, for the routes' scope check and the audit trail: declared the way Hono types
// middleware variables.
declare module "hono" {
  interface ContextVariableMap {
    principal: Principal;
  }
}

export type Method = "get" | "post" | "delete";

export interface ResponseSpec {
  readonly description: string;
  readonly schema?: z.ZodType;
  /** Defaults to `application/json`. */
  readonly contentType?: string;
}

type Schema = z.ZodType | undefined;

export interface RouteSpec<P extends Schema, Q extends Schema, B extends Schema> {
  readonly method: Method;
  /** Hono syntax, relative to the API prefix: `/messages/:id`. */
  readonly path: string;
  /** What a key must be allowed to call the route (`admin` may call every route). */
  readonly scope: ApiKeyScope;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  readonly responses: Readonly<Record<number, ResponseSpec>>;
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteInput<P extends Schema, Q extends Schema, B extends Schema> {
  readonly params: Out<P>;
  readonly query: Out<Q>;
  readonly body: Out<B>;
}

/** A request the API refuses; `onError` turns it into `{ "error": ..., "field": ... }`. */
export class RequestError extends Error {
  override readonly name = "RequestError";
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
    readonly field?: string,
    readonly issues?: readonly { readonly path: string; readonly message: string }[],
  ) {
    super(message);
  }
}

/** A caller whose key lacks the route's scope; `onError` turns it into a JSON 403. */
export class ScopeError extends Error {
  override readonly name = "ScopeError";
  constructor(readonly scope: ApiKeyScope, caller: string) {
    super(`API key '${caller}' lacks the '${scope}' scope this route needs`);
  }
}

// deno-lint-ignore no-explicit-any
export type AnyRouteSpec = RouteSpec<any, any, any>;

/** A route as registered: what the scope check and its test walk. */
export interface RegisteredRoute {
  readonly method: Method;
  /** Hono syntax, relative to the API prefix. */
  readonly path: string;
  readonly scope: ApiKeyScope;
}

/** The routes of one API prefix, kept for the OpenAPI document and the scope check. */
export class ApiRoutes {
  readonly specs: AnyRouteSpec[] = [];
  readonly registered: RegisteredRoute[] = [];

  constructor(readonly app: Hono, readonly prefix: string) {}

  add<P extends Schema = undefined, Q extends Schema = undefined, B extends Schema = undefined>(
    spec: RouteSpec<P, Q, B>,
    handler: (c: Context, input: RouteInput<P, Q, B>) => Response | Promise<Response>,
  ): this {
    this.specs.push(spec);
    return this.plain(spec.method, spec.path, spec.scope, async (c) => {
      const params = validate("path parameter", spec.params, c.req.param());
      const query = validate("query parameter", spec.query, c.req.query());
      const body = spec.body ? validate("body field", spec.body, await jsonBody(c)) : undefined;
      return await handler(c, { params, query, body } as RouteInput<P, Q, B>);
    });
  }

  /**
   * A route left out of the OpenAPI document (the document itself), with its scope all the same.
   * The scope is checked before anything else: a caller without it learns nothing of the route's
   * validation.
   */
  plain(
    method: Method,
    path: string,
    scope: ApiKeyScope,
    handler: (c: Context) => Response | Promise<Response>,
  ): this {
    this.registered.push({ method, path, scope });
    this.app.on(method.toUpperCase(), path, async (c) => {
      const principal = c.get("principal");
      if (!allows(principal, scope)) throw new ScopeError(scope, principal.name);
      return await handler(c);
    });
    return this;
  }
}

/** The name of the key behind the request, as the audit trail records it. */
export function actorOf(c: Context): string {
  return c.get("principal").name;
}

async function jsonBody(c: Context): Promise<unknown> {
  const text = await c.req.text();
  // An empty body is an empty object: `curl -X POST` on a route whose fields are optional.
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RequestError(400, `Invalid body: not valid JSON (${(err as Error).message})`);
  }
}

function validate(where: string, schema: z.ZodType | undefined, value: unknown): unknown {
  if (!schema) return undefined;
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({
    path: i.path.map(String).join("."),
    message: i.code === "unrecognized_keys" ? `unknown field(s): ${i.keys.join(", ")}` : i.message,
  }));
  const first = issues[0]!;
  const field = first.path || undefined;
  const noun = where.split(" ")[0];
  const message = field
    ? `Invalid ${where} '${field}': ${first.message}`
    : `Invalid ${noun}: ${first.message}`;
  throw new RequestError(400, message, field, issues);
}
