/**
 * One-click unsubscribe (RFC 8058).
 *
 * - `outbox.list_unsubscribe`: the application asks Ferry to add `List-Unsubscribe` and
 *   `List-Unsubscribe-Post` pointing at Ferry's public endpoint, one token per recipient.
 *   Defaults to false, so INSERTs that omit it are unchanged.
 * - `suppressions.sender_domain`: the scope of a suppression. NULL is global (every sender, as
 *   before); a domain limits it to mail whose From is in that domain, so an unsubscribe from
 *   newsletters.a.example does not stop mail from b.example. The primary key on `address`
 *   becomes a unique constraint on (address, sender_domain) with NULLS NOT DISTINCT, so there
 *   is still exactly one global entry per address and `ON CONFLICT (address, sender_domain)`
 *   finds it (PostgreSQL 15 or later).
 * - `unsubscribe_uses`: a token is accepted once. The primary key on the delivery makes two
 *   instances answering the same token at once agree: one insert wins, the other is a replay.
 */
export const up = `
ALTER TABLE ferry.outbox ADD COLUMN list_unsubscribe boolean NOT NULL DEFAULT false;

ALTER TABLE ferry.suppressions ADD COLUMN sender_domain text;
ALTER TABLE ferry.suppressions DROP CONSTRAINT suppressions_pkey;
ALTER TABLE ferry.suppressions ADD CONSTRAINT suppressions_address_scope
  UNIQUE NULLS NOT DISTINCT (address, sender_domain);

CREATE TABLE ferry.unsubscribe_uses (
  delivery_id   bigint PRIMARY KEY,
  outbox_id     bigint NOT NULL,
  recipient     text NOT NULL,
  sender_domain text NOT NULL,
  -- 'https' (the one-click POST) or 'mailto' (a mail to the bounce mailbox).
  via           text NOT NULL CHECK (via IN ('https', 'mailto')),
  used_at       timestamptz NOT NULL
);
`;
