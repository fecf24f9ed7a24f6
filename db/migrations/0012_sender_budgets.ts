/**
 * `ferry.sender_budgets`: the shared GCRA state of every per-sender rate (the config's `senders`
 * section), one row per sender key and rate: its theoretical arrival time (`tat`, epoch
 * milliseconds on the relay's clock, fractional for rates like 3/s). Instances reserve ranges of
 * a rate's timeline by advancing `tat` in one statement, so all of them together keep the rate
 * (actors/sender_budgets.ts). A changed rate is a new row; the old one is left to the purge.
 */
export const up = `
CREATE TABLE ferry.sender_budgets (
  key        text NOT NULL,
  count      double precision NOT NULL,
  per_ms     double precision NOT NULL,
  tat        double precision NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (key, count, per_ms)
);
`;
