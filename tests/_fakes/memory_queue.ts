/** An in-memory Queue for supervisor tests: the same contract as the PostgreSQL one, simplified. */
import type { Delivery, OutcomeRecord, Queue } from "../../actors/ports.ts";

interface Row {
  delivery: Delivery;
  status: "ready" | "claimed" | "done";
  dueAt: number;
}

export class MemoryQueue implements Queue {
  readonly rows: Row[];
  readonly leases: Map<string, { owner: string; expiresAt: number }>;
  readonly recorded: OutcomeRecord[];
  readonly released: number[] = [];
  /** Fencing tokens, shared with peers as the database's sequence is. */
  readonly #fence: { last: number };

  constructor(readonly owner = "me", readonly leaseMs = 15_000, shared?: MemoryQueue) {
    this.rows = shared?.rows ?? [];
    this.leases = shared?.leases ?? new Map();
    this.recorded = shared?.recorded ?? [];
    this.#fence = shared ? shared.#fence : { last: 0 };
  }

  /** Another instance on the same queue: its own name, the same rows, leases and outcomes. */
  peer(owner: string): MemoryQueue {
    return new MemoryQueue(owner, this.leaseMs, this);
  }

  add(deliveries: Delivery[], dueAt = 0): void {
    for (const d of deliveries) this.rows.push({ delivery: d, status: "ready", dueAt });
  }

  readyDomains(o: { cursor: string; limit: number; now: number }) {
    const domains = [
      ...new Set(
        this.rows.filter((r) => r.status === "ready" && r.dueAt <= o.now).map((r) =>
          r.delivery.domain
        ),
      ),
    ]
      .filter((d) => {
        const l = this.leases.get(d);
        return !l || l.owner === this.owner || l.expiresAt <= o.now;
      }).sort();
    return Promise.resolve({ domains, cursor: "" });
  }

  acquireDomains(domains: readonly string[], now: number) {
    const got = domains.filter((d) => {
      const l = this.leases.get(d);
      if (l && l.owner !== this.owner && l.expiresAt > now) return false;
      this.leases.set(d, { owner: this.owner, expiresAt: now + this.leaseMs });
      return true;
    });
    return Promise.resolve(got);
  }

  renewDomains(domains: readonly string[], now: number) {
    return Promise.resolve(domains.filter((d) => {
      const l = this.leases.get(d);
      if (!l || l.owner !== this.owner || l.expiresAt < now) return false;
      l.expiresAt = now + this.leaseMs;
      return true;
    }));
  }

  releaseDomains(domains: readonly string[]) {
    for (const d of domains) if (this.leases.get(d)?.owner === this.owner) this.leases.delete(d);
    return Promise.resolve();
  }

  claimMany(requests: readonly { domain: string; limit: number }[], now: number) {
    // One claim, one lease token, as in the one statement of the PostgreSQL queue.
    const token = ++this.#fence.last;
    const out: Delivery[] = [];
    for (const { domain, limit } of requests) {
      const l = this.leases.get(domain);
      if (!l || l.owner !== this.owner || l.expiresAt <= now) continue;
      const rows = this.rows.filter((r) =>
        r.status === "ready" && r.dueAt <= now && r.delivery.domain === domain
      ).slice(0, limit);
      for (const r of rows) {
        r.status = "claimed";
        r.delivery = { ...r.delivery, leaseToken: token, leaseExpiresAt: now + 120_000 };
        out.push(r.delivery);
      }
    }
    return Promise.resolve(out);
  }

  record(outcomes: readonly OutcomeRecord[]) {
    const refused: number[] = [];
    for (const o of outcomes) {
      const r = this.rows.find((x) => x.delivery.id === o.delivery.id);
      if (!r || r.status !== "claimed" || r.delivery.leaseToken !== o.delivery.leaseToken) {
        refused.push(o.delivery.id);
        continue;
      }
      this.recorded.push(o);
      if (o.status === "deferred") {
        r.status = "ready";
        r.dueAt = o.nextAttemptAt!;
      } else r.status = "done";
    }
    return Promise.resolve({ refused });
  }

  release(deliveries: readonly Delivery[], at: number) {
    for (const d of deliveries) {
      const r = this.rows.find((x) => x.delivery.id === d.id && x.status === "claimed");
      if (r) {
        r.status = "ready";
        r.dueAt = at;
        this.released.push(d.id);
      }
    }
    return Promise.resolve();
  }
}
