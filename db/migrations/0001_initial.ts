/**
 * The initial `ferry` schema. See db/README.md for the design of the queue tables and indexes.
 *
 * Hot-path rules kept here:
 * - no foreign keys between outbox, deliveries and events: every FK check is an extra index probe
 *   and lock on the hottest statements, and retention deletes in any order;
 * - partial indexes only over the rows the claim query looks for, so they stay small however
 *   large the history grows;
 * - aggressive per-table autovacuum on the churning tables (a delivery row is updated 2-3 times).
 */
export const up = `
CREATE TABLE ferry.outbox (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  from_address    text,
  to_addresses    text[] NOT NULL DEFAULT '{}',
  cc_addresses    text[] NOT NULL DEFAULT '{}',
  bcc_addresses   text[] NOT NULL DEFAULT '{}',
  reply_to        text,
  subject         text,
  text_body       text,
  html_body       text,
  headers         jsonb,
  raw_message     bytea,
  priority        smallint NOT NULL DEFAULT 1,
  send_at         timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz,
  idempotency_key text,
  metadata        jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  -- Ferry's own bookkeeping: set when the row has been expanded into deliveries.
  ingested_at     timestamptz,
  reject_reason   text
) WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

-- The ingestion scan: only rows not yet expanded; tiny whatever the table's size.
CREATE INDEX outbox_pending ON ferry.outbox (id) WHERE ingested_at IS NULL;
CREATE UNIQUE INDEX outbox_idempotency_key ON ferry.outbox (idempotency_key)
  WHERE idempotency_key IS NOT NULL;

CREATE TABLE ferry.deliveries (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  outbox_id        bigint NOT NULL,
  recipient        text NOT NULL,
  domain           text COLLATE "C" NOT NULL,
  status           text NOT NULL CHECK (status IN ('queued', 'sending', 'deferred', 'delivered',
                     'bounced', 'expired', 'cancelled', 'suppressed', 'rejected')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL,
  last_code        smallint,
  last_reply       text,
  mx_host          text,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  -- Ferry's own columns.
  priority         smallint NOT NULL DEFAULT 1,
  expires_at       timestamptz NOT NULL,
  smtputf8         boolean NOT NULL DEFAULT false,
  lease_owner      text,
  lease_token      bigint,
  lease_expires_at timestamptz,
  bounce_class     text,
  created_at       timestamptz NOT NULL DEFAULT now()
) WITH (
  fillfactor = 85,
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 1
);

-- The claim index: per domain, then priority, then due time. The claim walks distinct domains
-- (a skip scan over the leading column) and takes a few rows from each, so one domain's backlog
-- cannot crowd out another's (db/README.md, "Fairness").
CREATE INDEX deliveries_ready ON ferry.deliveries (domain, priority, next_attempt_at, id)
  WHERE status IN ('queued', 'deferred');
-- Leases that may have expired (crashed instances).
CREATE INDEX deliveries_leased ON ferry.deliveries (lease_expires_at) WHERE status = 'sending';
CREATE INDEX deliveries_outbox ON ferry.deliveries (outbox_id);
CREATE INDEX deliveries_recipient ON ferry.deliveries (recipient);
-- Retention walks finished rows by age.
CREATE INDEX deliveries_finished ON ferry.deliveries (updated_at)
  WHERE status IN ('delivered', 'bounced', 'expired', 'cancelled', 'suppressed', 'rejected');

-- Append-only log: one row per attempt or state change.
CREATE TABLE ferry.events (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  delivery_id  bigint NOT NULL,
  outbox_id    bigint NOT NULL,
  at           timestamptz NOT NULL,
  kind         text NOT NULL,
  mx_host      text,
  code         smallint,
  enhanced     text,
  reply        text,
  tls          boolean,
  duration_ms  integer,
  instance     text
) WITH (autovacuum_vacuum_scale_factor = 0.05);
CREATE INDEX events_delivery ON ferry.events (delivery_id);
-- Append-only and time-ordered: a BRIN index is tiny and enough for retention's range scans.
CREATE INDEX events_at ON ferry.events USING brin (at);

CREATE TABLE ferry.suppressions (
  address    text PRIMARY KEY,
  reason     text NOT NULL,
  source     text NOT NULL DEFAULT 'manual',
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz
);

CREATE TABLE ferry.domain_suspensions (
  domain     text PRIMARY KEY,
  reason     text NOT NULL,
  until      timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Leases on named resources ('domain:example.com', ...) shared by all instances. The token is
-- a fencing number from ferry.fence: it only grows, so a holder whose lease was taken over is
-- refused when it reports under the old token.
CREATE SEQUENCE ferry.fence;
CREATE TABLE ferry.leases (
  name       text PRIMARY KEY,
  owner      text NOT NULL,
  token      bigint NOT NULL,
  expires_at timestamptz NOT NULL
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.05);

CREATE TABLE ferry.instances (
  id           text PRIMARY KEY,
  hostname     text NOT NULL,
  started_at   timestamptz NOT NULL,
  heartbeat_at timestamptz NOT NULL
);
`;
