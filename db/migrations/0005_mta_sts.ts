/**
 * MTA-STS policies (RFC 8461) of recipient domains, one row per domain.
 *
 * A policy must outlive restarts and be shared by every instance: RFC 8461 §5.1 keeps applying
 * an unexpired cached policy when a refresh fails, which is what defeats an attacker who blocks
 * the next fetch. So the cache lives here, not in memory. Each fetch upserts the domain's row;
 * a failed refresh only notes `last_error` on it.
 */
export const up = `
CREATE TABLE ferry.mta_sts_policies (
  -- The recipient domain, lower-case, without trailing dot.
  domain        text PRIMARY KEY CHECK (domain = lower(domain)),
  -- The id of the _mta-sts TXT record the policy was fetched for: a new id means a new policy.
  policy_id     text NOT NULL,
  mode          text NOT NULL CHECK (mode IN ('enforce', 'testing', 'none')),
  -- Host names and *.domain patterns, lower-case; empty only for mode 'none'.
  mx            text[] NOT NULL,
  -- Seconds, as the policy gave them (RFC 8461 §3.2 caps them at 31557600).
  max_age       integer NOT NULL CHECK (max_age BETWEEN 0 AND 31557600),
  fetched_at    timestamptz NOT NULL,
  -- fetched_at + max_age: the policy may be applied until then.
  expires_at    timestamptz NOT NULL,
  -- The last refresh that failed since the policy was fetched.
  last_error    text,
  last_error_at timestamptz
);
`;
