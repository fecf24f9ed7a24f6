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
  responses["401"] ??= { description: "Missing or wrong bearer token" };
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
    security: [{ bearer: [] }],
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
        "actions, suppressions and the live event stream. Every route needs " +
        '`Authorization: Bearer <FERRY_ADMIN_TOKEN>`; errors are `{ "error": "..." }`.',
    },
    servers: [{ url: "/" }],
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
    },
  };
}
