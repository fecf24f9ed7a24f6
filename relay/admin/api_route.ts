/**
 * One definition per route: its path, its Zod schemas (path parameters, query, JSON body,
 * responses) and its handler. The same definition validates each request (a JSON 400 naming the
 * field) and feeds the OpenAPI document, so the documentation cannot drift from the code.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { z } from "zod";

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

// deno-lint-ignore no-explicit-any
export type AnyRouteSpec = RouteSpec<any, any, any>;

/** The routes of one API prefix, kept for the OpenAPI document. */
export class ApiRoutes {
  readonly specs: AnyRouteSpec[] = [];

  constructor(readonly app: Hono, readonly prefix: string) {}

  add<P extends Schema = undefined, Q extends Schema = undefined, B extends Schema = undefined>(
    spec: RouteSpec<P, Q, B>,
    handler: (c: Context, input: RouteInput<P, Q, B>) => Response | Promise<Response>,
  ): this {
    this.specs.push(spec);
    this.app.on(spec.method.toUpperCase(), spec.path, async (c) => {
      const params = validate("path parameter", spec.params, c.req.param());
      const query = validate("query parameter", spec.query, c.req.query());
      const body = spec.body ? validate("body field", spec.body, await jsonBody(c)) : undefined;
      return await handler(c, { params, query, body } as RouteInput<P, Q, B>);
    });
    return this;
  }
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
