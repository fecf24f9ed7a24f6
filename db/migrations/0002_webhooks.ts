/**
 * Webhooks: a durable outbox of HTTP notifications, and the watermark of the event fan-out.
 *
 * - `webhook_deliveries`: one row per (event, endpoint URL). The dispatcher claims due rows by
 *   pushing `next_attempt_at` forward by a lease (no separate "sending" state: a crashed
 *   dispatcher's rows simply fall due again), then marks them `delivered`, or schedules the next
 *   attempt with backoff, or gives up (`failed`) after the configured attempts.
 * - `webhook_cursor`: how far the fan-out has read `ferry.events` (by id). Read and advanced in
 *   the same short transaction that inserts the rows, under the row's lock, so several instances
 *   never fan out the same event twice; the unique (event_id, url) index makes a replay harmless.
 *
 * The delivery path never touches these tables: the fan-out tails `ferry.events` afterwards.
 */
export const up = `
CREATE TABLE ferry.webhook_deliveries (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The ferry.events row this notifies about; null for events that are not in ferry.events
  -- (alerts).
  event_id        bigint,
  event_type      text NOT NULL,
  url             text NOT NULL,
  payload         jsonb NOT NULL,
  status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  last_status     smallint,
  last_error      text,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  delivered_at    timestamptz
) WITH (autovacuum_vacuum_scale_factor = 0.02);

CREATE UNIQUE INDEX webhook_deliveries_event_url ON ferry.webhook_deliveries (event_id, url)
  WHERE event_id IS NOT NULL;
-- The dispatcher's claim: only pending rows, by due time.
CREATE INDEX webhook_deliveries_due ON ferry.webhook_deliveries (next_attempt_at, id)
  WHERE status = 'pending';
-- Retention of finished rows.
CREATE INDEX webhook_deliveries_finished ON ferry.webhook_deliveries (updated_at)
  WHERE status IN ('delivered', 'failed');

CREATE TABLE ferry.webhook_cursor (
  name          text PRIMARY KEY,
  last_event_id bigint NOT NULL,
  updated_at    timestamptz NOT NULL
);
`;
