/**
 * The OpenAPI 3.1 document, built from the route definitions' Zod schemas (`z.toJSONSchema`),
 * never written by hand: a field added to a schema appears here and is validated the same way.
 *
 * @module
 */
import { z } from "zod";
import type { AnyRouteSpec, ApiRoutes } from "./api_route.ts";

type Json = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: "input" | "output"): Json {
  const out = z.toJSONSchema(schema, { io, unrepresentable: "any", target: "draft-2020-12" });
  delete (out as Json).$schema;
  return out as Json;
}

/** Path or query parameters from an object schema: one entry per property. */
function parameters(schema: z.ZodType | undefined, where: "path" | "query"): Json[] {
  if (!schema) return [];
  const object = jsonSchema(schema, "input");
  const props = (object.properties ?? {}) as Record<string, Json>;
  const required = new Set((object.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => {
    const { description, ...rest } = s;
    return {
      name,
      in: where,
      required: where === "path" || required.has(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

function operation(spec: AnyRouteSpec): Json {
  const responses: Json = {};
  for (const [status, r] of Object.entries(spec.responses)) {
    responses[status] = {
      description: r.description,
      ...(r.schema
        ? {
          content: {
            [r.contentType ?? "application/json"]: { schema: jsonSchema(r.schema, "output") },
          },
        }
        : {}),
    };
  }
  responses["401"] ??= { description: "Missing or wrong bearer token, or a revoked key" };
  responses["403"] ??= {
    description: `The key lacks the '${spec.scope}' scope`,
    content: {
      "application/json": {
        schema: {
          type: "object",
          properties: { error: { type: "string" }, required_scope: { const: spec.scope } },
          required: ["error", "required_scope"],
        },
      },
    },
  };
  return {
    operationId: `${spec.method}${
      spec.path.replace(/:(\w+)/g, "By_$1").replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch?: string) =>
        ch ? ch.toUpperCase() : "")
    }`,
    tags: [spec.tag],
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    parameters: [...parameters(spec.params, "path"), ...parameters(spec.query, "query")],
    ...(spec.body
      ? {
        requestBody: {
          required: true,
          content: { "application/json": { schema: jsonSchema(spec.body, "input") } },
        },
      }
      : {}),
    responses,
    // OpenAPI 3.1 lets a non-OAuth scheme list the roles an operation needs: here, the scope.
    security: [{ bearer: [spec.scope] }],
    "x-required-scope": spec.scope,
  };
}

export function openApiDocument(routes: ApiRoutes, version: string): Json {
  const paths: Record<string, Json> = {};
  for (const spec of routes.specs) {
    const path = routes.prefix + spec.path.replace(/:(\w+)/g, "{$1}");
    paths[path] = { ...paths[path], [spec.method]: operation(spec) };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Ferry admin API",
      version,
      description: "Operate the Ferry mail relay: queue, destinations, messages, bulk " +
        "actions, suppressions, API keys and the live event stream. Every route needs " +
        "`Authorization: Bearer <token>`: an API key (`fy_...`) whose scopes include the " +
        "route's (`read`, `send`, `operate`; `admin` covers all), or FERRY_ADMIN_TOKEN, which " +
        'acts as `admin`. Errors are `{ "error": "..." }`.',
    },
    servers: [{ url: "/" }],
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
    },
  };
}
