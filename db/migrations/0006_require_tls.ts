/**
 * REQUIRETLS (RFC 8689): `ferry.outbox.require_tls`, the application's request that the message
 * travel only over TLS with a verified certificate to a next hop that announces REQUIRETLS, or
 * bounce (never fall back to an unverified or plaintext hop).
 *
 * The message is read from the outbox row at send time (db/messages.ts), so the flag lives there
 * only; deliveries need no copy. `NOT NULL DEFAULT false` keeps every existing INSERT valid and
 * every existing row sending as before; since PostgreSQL 11 a constant default is stored in the
 * catalogue, so adding the column does not rewrite the table.
 */
export const up = `
ALTER TABLE ferry.outbox ADD COLUMN require_tls boolean NOT NULL DEFAULT false;
`;
