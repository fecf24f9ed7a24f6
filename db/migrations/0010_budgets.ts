/**
 * `ferry.destination_state`: each destination's limits (GCRA state per configured rate, the
 * adaptive message rate, adaptive concurrency) as the actor serving it left them, one row per
 * destination key (a domain, or an MX group's `mx:` key).
 *
 * In memory only, a restart or a lease moving to another instance reset them, so a daily cap
 * could be spent again and a limit a receiver taught us was forgotten. The row is written by
 * the instance holding the destination's lease (every second while it changes, and when its
 * actor stops), checked against `ferry.leases` in the same statement, and read by the next
 * actor of the destination, wherever it starts.
 *
 * `state` is the actors' own JSON record (actors/destination_state.ts): its shape is theirs,
 * versioned inside, and nothing else reads it with SQL. `owner` is the instance that wrote it.
 */
export const up = `
CREATE TABLE ferry.destination_state (
  key        text PRIMARY KEY,
  state      jsonb NOT NULL,
  owner      text NOT NULL,
  updated_at timestamptz NOT NULL
);
`;
