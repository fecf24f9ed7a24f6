/**
 * Scoped API keys for the admin API, and who did what.
 *
 * - `api_keys`: one row per key ever issued. A token is `fy_<id>_<secret>`: the id finds the row,
 *   the secret is checked against `hash`, the SHA-256 of it. The secret itself is never stored:
 *   it is 256 random bits, so a plain hash cannot be reversed by trying candidates, and checking it
 *   costs one hash per request (a slow hash such as scrypt protects guessable passwords, which
 *   these are not). `prefix` (`fy_<id>`) is what lists show. A revoked key keeps its row, and its
 *   name: names are what the audit trail records, so one name always means one key.
 * - `events.actor`: the key name behind an event an operator caused (a cancel, a requeue); null
 *   for what Ferry did on its own.
 * - `audit_log`: one row per operator action (cancel, retry, flush, suspend, resume, suppress,
 *   unsuppress, key create and revoke), including those that change no delivery and so write no
 *   event. Kept apart from `events`, which webhooks and the live view read as delivery history.
 */
export const up = `
CREATE TABLE ferry.api_keys (
  -- Random, 16 hex digits: part of the token, so lookups need no scan.
  id           text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
  -- 'bootstrap' is FERRY_ADMIN_TOKEN's name in the audit trail, never a key's.
  name         text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'
                                          AND name <> 'bootstrap'),
  scopes       text[] NOT NULL CHECK (cardinality(scopes) > 0
                 AND scopes <@ ARRAY['read', 'send', 'operate', 'admin']::text[]),
  -- SHA-256 of the token's secret part.
  hash         bytea NOT NULL CHECK (octet_length(hash) = 32),
  prefix       text NOT NULL,
  created_at   timestamptz NOT NULL,
  revoked_at   timestamptz,
  -- Written at most once a minute per key, so a busy client does not write on every request.
  last_used_at timestamptz
);

ALTER TABLE ferry.events ADD COLUMN actor text;

CREATE TABLE ferry.audit_log (
  id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at      timestamptz NOT NULL,
  -- The acting key's name, or 'bootstrap' for FERRY_ADMIN_TOKEN.
  actor   text NOT NULL,
  action  text NOT NULL,
  -- What was acted on: a message id, a domain, an address, a key name; null for a flush of all.
  target  text,
  -- The action's parameters and result (reason, counts, scopes), never a secret.
  detail  jsonb
);
CREATE INDEX audit_log_actor ON ferry.audit_log (actor, id);
`;
