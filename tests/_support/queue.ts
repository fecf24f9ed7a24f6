/**
 * Claiming due work in tests the way the relay does: destinations from `readyDomains`, rows from
 * `claimDomains` (whole messages, suspended destinations skipped). No destination lease is
 * taken; tests about leases take them with db/leases.ts.
 */
import type { Db } from "../../db/client.ts";
import { claimDomains, type ClaimedDelivery, readyDomains } from "../../db/queue.ts";

export interface ClaimReadyOptions {
  readonly owner: string;
  readonly now: Date;
  /** Lease on the claimed deliveries (default one minute). */
  readonly leaseMs?: number;
  /**
   * Most rows in all, shared out in turn (every destination's first row before any destination's
   * second), as the supervisor spreads demand; a message's other recipients at the same
   * destination come along even past it. Default: everything due.
   */
  readonly limit?: number;
}

/** Claims due deliveries of every ready destination, up to `limit` in all. */
export async function claimReady(db: Db, o: ClaimReadyOptions): Promise<ClaimedDelivery[]> {
  let open: string[] = [];
  let cursor = "";
  do {
    const page = await readyDomains(db, { cursor, limit: 500, now: o.now, owner: o.owner });
    open.push(...page.domains);
    cursor = page.cursor;
  } while (cursor !== "");
  const claimed: ClaimedDelivery[] = [];
  let left = o.limit ?? 1_000_000;
  while (left > 0 && open.length > 0) {
    const base = Math.floor(left / open.length);
    const requests = open.map((domain, i) => ({
      domain,
      limit: base + (i < left % open.length ? 1 : 0),
    })).filter((r) => r.limit > 0);
    const got = await claimDomains(db, {
      requests,
      owner: o.owner,
      now: o.now,
      leaseMs: o.leaseMs ?? 60_000,
    });
    claimed.push(...got);
    left -= got.length;
    // A destination that gave all it was asked may have more: it takes the others' unused share.
    open = requests.filter((r) => got.filter((d) => d.domain === r.domain).length >= r.limit)
      .map((r) => r.domain);
  }
  return claimed;
}
