/**
 * `ferry.events.tls_detail`: how each attempt's TLS was decided (the policy applied — DANE,
 * MTA-STS, a static route or the destination's own — why, and whether the session was encrypted
 * and its certificate authenticated), so an application or operator can read every TLS decision
 * with SQL. Nullable and without a default: adding it rewrites nothing, and rows written before
 * it (or events without a session, such as an expiry) leave it empty.
 */
export const up = `
ALTER TABLE ferry.events ADD COLUMN tls_detail jsonb;
`;
