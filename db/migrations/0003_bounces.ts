/**
 * Bounces and complaints read from the bounce mailbox.
 *
 * `bounce_messages` holds one row per mailbox message processed: the `(mailbox, uidl)` marker
 * that makes processing idempotent (relay/bounce_processing/sink.ts: the outcomes and this row commit in
 * one transaction, so a crash before DELE re-finds the marker and counts nothing twice), the
 * parsed summary, and the raw bytes of whatever could not be tied to a delivery, so nothing
 * is dropped.
 *
 * Matching needs no new index on the delivery side: a VERP id is a `deliveries` primary key,
 * and a Ferry Message-ID (`<ferry.{outbox_id}.{hash}@domain>`) names its outbox row, whose
 * deliveries `deliveries_outbox` finds. Outcomes go to the existing tables: `deliveries`
 * (status `bounced`, `bounce_class`), `events` (kinds `bounced`, `bounce_soft`,
 * `bounce_delayed`, `complaint`) and `suppressions` (sources `bounce`, `complaint`).
 */
export const up = `
CREATE TABLE ferry.bounce_messages (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The maildrop (user@host:port): POP3 UIDLs are unique per maildrop only (RFC 1939 §7).
  mailbox      text NOT NULL,
  uidl         text NOT NULL,
  processed_at timestamptz NOT NULL,
  -- What the message was, overall: a failure report, only delay warnings, a complaint, or
  -- something not understood.
  kind         text NOT NULL CHECK (kind IN ('bounce', 'delay', 'complaint', 'unrecognised')),
  -- Outcomes tied to a delivery, and outcomes kept without one.
  matched      integer NOT NULL CHECK (matched >= 0),
  unmatched    integer NOT NULL CHECK (unmatched >= 0),
  -- Subject, From, Message-ID of the report and each parsed outcome with its delivery id.
  summary      jsonb NOT NULL,
  -- The message as retrieved, kept when something in it was unmatched or unrecognised.
  raw          bytea,
  CONSTRAINT bounce_messages_marker UNIQUE (mailbox, uidl)
);
-- What an operator looks at: the messages nobody could match, newest first.
CREATE INDEX bounce_messages_unmatched ON ferry.bounce_messages (processed_at)
  WHERE unmatched > 0;
-- Retention by age.
CREATE INDEX bounce_messages_processed ON ferry.bounce_messages USING brin (processed_at);
`;
