/**
 * Kysely's view of the `ferry` schema. Column names are the public contract of the README; the columns
 * marked "Ferry's own" are extensions the contract allows.
 *
 * @module
 */
import type { ColumnType, Generated } from "kysely";

/** Every state a delivery can be in (README, "Read its status"). */
export const DELIVERY_STATUSES = [
  "queued",
  "sending",
  "deferred",
  "delivered",
  "bounced",
  "expired",
  "cancelled",
  "suppressed",
  "rejected",
] as const;
export type DeliveryStatus = typeof DELIVERY_STATUSES[number];

/** States from which a delivery never moves again (except by an operator's retry). */
export const FINAL_STATUSES: readonly DeliveryStatus[] = [
  "delivered",
  "bounced",
  "expired",
  "cancelled",
  "suppressed",
  "rejected",
];

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type DefaultedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json = ColumnType<Record<string, unknown>, string | Record<string, unknown>, string>;

export interface OutboxTable {
  id: Generated<number>;
  from_address: string | null;
  to_addresses: ColumnType<string[], string[] | undefined, string[]>;
  cc_addresses: ColumnType<string[], string[] | undefined, string[]>;
  bcc_addresses: ColumnType<string[], string[] | undefined, string[]>;
  reply_to: string | null;
  subject: string | null;
  text_body: string | null;
  html_body: string | null;
  headers: Json | null;
  raw_message: Uint8Array | null;
  /** `[{ filename, content_type, content (base64), content_id? }]`, structured form only. */
  attachments: Json | null;
  priority: ColumnType<number, number | undefined, number>;
  /**
   * REQUIRETLS (RFC 8689, migration 0006): send only over verified TLS to a next hop that
   * announces REQUIRETLS, else bounce. Defaults to false, so INSERTs that omit it are unchanged.
   */
  require_tls: ColumnType<boolean, boolean | undefined, boolean>;
  /**
   * One-click unsubscribe (RFC 8058, migration 0011): add `List-Unsubscribe` and
   * `List-Unsubscribe-Post` with a token per recipient. Defaults to false.
   */
  list_unsubscribe: ColumnType<boolean, boolean | undefined, boolean>;
  send_at: DefaultedTimestamp;
  expires_at: Timestamp | null;
  idempotency_key: string | null;
  metadata: Json | null;
  created_at: DefaultedTimestamp;
  ingested_at: Timestamp | null;
  reject_reason: string | null;
}

export interface DeliveriesTable {
  id: Generated<number>;
  outbox_id: number;
  recipient: string;
  domain: string;
  status: DeliveryStatus;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Timestamp;
  last_code: number | null;
  last_reply: string | null;
  mx_host: string | null;
  updated_at: DefaultedTimestamp;
  delivered_at: Timestamp | null;
  priority: ColumnType<number, number | undefined, number>;
  expires_at: Timestamp;
  smtputf8: ColumnType<boolean, boolean | undefined, boolean>;
  lease_owner: string | null;
  lease_token: number | null;
  lease_expires_at: Timestamp | null;
  bounce_class: string | null;
  created_at: DefaultedTimestamp;
}

export interface EventsTable {
  id: Generated<number>;
  delivery_id: number;
  outbox_id: number;
  at: Timestamp;
  kind: string;
  mx_host: string | null;
  code: number | null;
  enhanced: string | null;
  reply: string | null;
  tls: boolean | null;
  /** How the attempt's TLS was decided: `{ policy, reason, tls, verified }`. */
  tls_detail: ColumnType<unknown, string | null | undefined, string | null>;
  duration_ms: number | null;
  instance: string | null;
  /** The API key name behind an operator's event (migration 0009); null for Ferry's own. */
  actor: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface SuppressionsTable {
  address: string;
  reason: string;
  source: ColumnType<string, string | undefined, string>;
  created_at: DefaultedTimestamp;
  expires_at: Timestamp | null;
  /** The scope (migration 0011): mail from this From domain only; null: every sender. */
  sender_domain: ColumnType<string | null, string | null | undefined, string | null>;
}

/** A one-click unsubscribe token accepted once (migration 0011), keyed by its delivery. */
export interface UnsubscribeUsesTable {
  delivery_id: number;
  outbox_id: number;
  recipient: string;
  sender_domain: string;
  via: "https" | "mailto";
  used_at: Timestamp;
}

export interface DomainSuspensionsTable {
  domain: string;
  reason: string;
  until: Timestamp;
  created_at: DefaultedTimestamp;
}

export interface LeasesTable {
  name: string;
  owner: string;
  token: number;
  expires_at: Timestamp;
}

export interface InstancesTable {
  id: string;
  hostname: string;
  started_at: Timestamp;
  heartbeat_at: Timestamp;
}

/** MTA-STS policies of recipient domains (migration 0005): one row per domain. */
export interface MtaStsPoliciesTable {
  domain: string;
  policy_id: string;
  mode: "enforce" | "testing" | "none";
  mx: string[];
  max_age: number;
  fetched_at: Timestamp;
  expires_at: Timestamp;
  last_error: ColumnType<string | null, string | null | undefined, string | null>;
  last_error_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

/** A calendar day, `YYYY-MM-DD`: db/client.ts reads `date` columns as text, never as an instant. */
type Day = ColumnType<string, string, string>;

/** TLS-RPT counters (migration 0007): sessions per day, policy and outcome. */
export interface TlsRptResultsTable {
  day: Day;
  policy_domain: string;
  policy_type: "sts" | "tlsa" | "no-policy-found";
  policy_hash: string;
  policy_strings: string[];
  mx_host: string;
  result_type: string;
  sending_mta_ip: string;
  receiving_mx_hostname: string;
  receiving_mx_helo: string;
  receiving_ip: string;
  additional_info: string;
  failure_reason_code: string;
  sessions: number;
}

/** TLS-RPT reports, one per day, policy domain and rua (migration 0007). */
export interface TlsRptReportsTable {
  id: Generated<number>;
  day: Day;
  policy_domain: string;
  rua: string;
  report_id: string;
  status: "pending" | "sent" | "failed" | "no-record";
  report: Uint8Array | null;
  attempts: ColumnType<number, number | undefined, number>;
  owner: string | null;
  lease_expires_at: Timestamp | null;
  next_attempt_at: Timestamp | null;
  last_error: string | null;
  outbox_id: number | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  sent_at: Timestamp | null;
}

/**
 * What an admin API key may do (migration 0009): `read` the GET routes, `send` mail, `operate`
 * the queue (cancel, retry, flush, suspend, resume, suppress), `admin` everything, keys included.
 */
export const API_KEY_SCOPES = ["read", "send", "operate", "admin"] as const;
export type ApiKeyScope = typeof API_KEY_SCOPES[number];

/** Admin API keys (migration 0009): the secret's SHA-256, never the secret. */
export interface ApiKeysTable {
  id: string;
  name: string;
  scopes: ApiKeyScope[];
  hash: Uint8Array;
  prefix: string;
  created_at: Timestamp;
  revoked_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  last_used_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

/** One operator action through the admin API (migration 0009). */
export interface AuditLogTable {
  id: Generated<number>;
  at: Timestamp;
  actor: string;
  action: string;
  target: string | null;
  detail: Json | null;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: DefaultedTimestamp;
}

/** One HTTP notification per (event, endpoint URL) (migration 0002). */
export interface WebhookDeliveriesTable {
  id: Generated<number>;
  /** The `ferry.events` row notified about; null for events that are not there (alerts). */
  event_id: number | null;
  event_type: string;
  url: string;
  payload: Json;
  status: ColumnType<
    "pending" | "delivered" | "failed",
    "pending" | "delivered" | "failed" | undefined,
    "pending" | "delivered" | "failed"
  >;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Timestamp;
  last_status: number | null;
  last_error: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  delivered_at: Timestamp | null;
}

/** How far the webhook fan-out has read `ferry.events`. */
export interface WebhookCursorTable {
  name: string;
  last_event_id: number;
  updated_at: Timestamp;
}

/** One processed bounce-mailbox message (migration 0003). */
export interface BounceMessagesTable {
  id: Generated<number>;
  mailbox: string;
  uidl: string;
  processed_at: Timestamp;
  kind: "bounce" | "delay" | "complaint" | "unrecognised";
  matched: number;
  unmatched: number;
  summary: Json;
  raw: Uint8Array | null;
}

/**
 * A destination's limits as its actor left them (migration 0010): the actors' JSON record,
 * written by the lease holder.
 */
export interface DestinationStateTable {
  key: string;
  state: Json;
  owner: string;
  updated_at: Timestamp;
}

/** One per-sender rate's shared GCRA state (migration 0012); `tat` in epoch milliseconds. */
export interface SenderBudgetsTable {
  key: string;
  count: number;
  per_ms: number;
  tat: number;
  updated_at: Timestamp;
}

export interface FerrySchema {
  "ferry.outbox": OutboxTable;
  "ferry.deliveries": DeliveriesTable;
  "ferry.events": EventsTable;
  "ferry.suppressions": SuppressionsTable;
  "ferry.unsubscribe_uses": UnsubscribeUsesTable;
  "ferry.domain_suspensions": DomainSuspensionsTable;
  "ferry.leases": LeasesTable;
  "ferry.destination_state": DestinationStateTable;
  "ferry.sender_budgets": SenderBudgetsTable;
  "ferry.instances": InstancesTable;
  "ferry.mta_sts_policies": MtaStsPoliciesTable;
  "ferry.tls_rpt_results": TlsRptResultsTable;
  "ferry.tls_rpt_reports": TlsRptReportsTable;
  "ferry.schema_migrations": SchemaMigrationsTable;
  "ferry.webhook_deliveries": WebhookDeliveriesTable;
  "ferry.webhook_cursor": WebhookCursorTable;
  "ferry.bounce_messages": BounceMessagesTable;
  "ferry.api_keys": ApiKeysTable;
  "ferry.audit_log": AuditLogTable;
}
