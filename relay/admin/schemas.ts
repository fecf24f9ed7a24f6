/**
 * Zod schemas shared by the routes: request parts (validated) and response shapes (for the
 * OpenAPI document).
 *
 * @module
 */
import { z } from "zod";
import { DELIVERY_STATUSES, type DeliveryStatus } from "../../db/schema.ts";

export const statusSchema = z.enum(DELIVERY_STATUSES);

/** `status=queued,deferred` in a query string. */
export const statusListParam = z.string().transform((s, ctx): DeliveryStatus[] => {
  const parts = s.split(",").map((p) => p.trim()).filter(Boolean);
  const bad = parts.filter((p) => !(DELIVERY_STATUSES as readonly string[]).includes(p));
  if (bad.length > 0 || parts.length === 0) {
    ctx.addIssue({
      code: "custom",
      message: `expected one or more of ${DELIVERY_STATUSES.join(", ")} separated by commas: got ${
        JSON.stringify(s)
      }`,
    });
    return z.NEVER;
  }
  return parts as DeliveryStatus[];
}).describe("One status or several separated by commas.");

export const domainSchema = z.string()
  .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/, "expected a domain name like example.com")
  .max(253)
  .transform((s) => s.toLowerCase().replace(/\.$/, ""));

export const instantSchema = z.iso.datetime({ offset: true })
  .transform((s) => new Date(s))
  .describe("ISO 8601 date-time, e.g. 2026-01-01T10:00:00Z");

export const idParam = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const limitParam = (max: number, fallback: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback)
    .describe(`Rows per page (1..${max}, default ${fallback}).`);

export const errorSchema = z.object({
  error: z.string(),
  field: z.string().optional().describe("The request field at fault (400)."),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

const date = z.string().describe("ISO 8601 date-time");

export const deliverySchema = z.object({
  id: z.number(),
  outbox_id: z.number(),
  recipient: z.string(),
  domain: z.string(),
  status: statusSchema,
  attempts: z.number(),
  next_attempt_at: date,
  last_code: z.number().nullable(),
  last_reply: z.string().nullable(),
  mx_host: z.string().nullable(),
  created_at: date,
  updated_at: date,
  delivered_at: date.nullable(),
  expires_at: date,
  priority: z.number(),
  from_address: z.string().nullable(),
  subject: z.string().nullable(),
});

export const eventSchema = z.object({
  id: z.number(),
  delivery_id: z.number(),
  outbox_id: z.number(),
  at: date,
  kind: z.string(),
  recipient: z.string().nullable(),
  domain: z.string().nullable(),
  mx_host: z.string().nullable(),
  code: z.number().nullable(),
  enhanced: z.string().nullable(),
  reply: z.string().nullable(),
  tls: z.boolean().nullable(),
  /** How TLS was decided for the attempt: the policy applied, why, and what it got. */
  tls_detail: z.object({
    policy: z.string(),
    reason: z.string(),
    tls: z.boolean(),
    verified: z.boolean(),
  }).nullable().optional(),
  duration_ms: z.number().nullable(),
  actor: z.string().nullable().describe(
    "The API key name of the operator who caused the event (`bootstrap` for " +
      "FERRY_ADMIN_TOKEN); null for Ferry's own events.",
  ),
});

export const liveStateSchema = z.object({
  state: z.string(),
  in_flight: z.number(),
  connections: z.number(),
  connection_limit: z.number().nullable().describe("Most connections allowed now (adaptive)."),
  connection_max: z.number().nullable().describe("The destination's configured maximum."),
  rate_budget: z.object({
    available: z.number(),
    capacity: z.number().nullable(),
    rate: z.string().nullable().describe('The configured rates, e.g. "100/m, 5000/h".'),
    adaptive_per_second: z.number().nullable().describe(
      "The rate a throttling receiver left, in messages per second; null while not adapted.",
    ),
    next_free_at: date.nullable().describe("When the budget lets the next message go."),
  }).nullable(),
  paused_until: date.nullable().describe(
    "The receiver asked to slow down: no transaction starts before this.",
  ),
  last_throttle: z.object({ text: z.string(), at: date }).nullable().describe(
    "The last throttling reply heard from the destination.",
  ),
  actor: z.string().nullable().describe("The shared actor's key when domains share MX hosts."),
  backoff_until: date.nullable(),
  unreachable_since: date.nullable(),
  last_reply: z.object({ code: z.number().nullable(), text: z.string(), at: date.nullable() })
    .nullable(),
});

export const domainStateSchema = z.object({
  domain: z.string(),
  queued: z.number(),
  deferred: z.number(),
  sending: z.number(),
  due: z.number(),
  oldest_created_at: date.nullable(),
  next_attempt_at: date.nullable(),
  suspended: z.object({ reason: z.string(), until: date }).nullable(),
  live: liveStateSchema.nullable().describe("The actor's state; null when none is running."),
  last_reply: z.object({ code: z.number().nullable(), reply: z.string(), at: date }).nullable()
    .optional(),
});
