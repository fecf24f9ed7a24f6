/**
 * A memory of peers whose TLS handshake failed, so that the next connection to them under an
 * opportunistic policy goes without STARTTLS instead of failing the same way forever. Postfix
 * solves the same problem by retrying in plaintext on the next attempt; here the memory is
 * explicit, expires (a peer may fix its certificate or library), and is bounded in size.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";

/** Construction options for {@link BrokenTlsPeers}. */
export interface BrokenTlsPeersOptions {
  /** Reads the time; only `now()` is used. */
  readonly clock: Pick<Clock, "now">;
  /** How long a failure is remembered. Default: one hour. */
  readonly ttlMs?: number;
  /** At most this many peers are remembered; the oldest entry goes first. Default: 10 000. */
  readonly maxEntries?: number;
}

/** One remembered failure. */
export interface BrokenTlsPeer {
  readonly peer: string;
  readonly reason: string;
  readonly since: number;
  readonly until: number;
}

/** Peers (keyed by host name, or `host:port`) whose TLS handshake is known to fail. */
export class BrokenTlsPeers {
  readonly #clock: Pick<Clock, "now">;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  // A Map keeps insertion order, which makes "evict the oldest" a walk from the front.
  readonly #entries = new Map<string, BrokenTlsPeer>();

  constructor(options: BrokenTlsPeersOptions) {
    const { ttlMs = 3_600_000, maxEntries = 10_000 } = options;
    if (!(ttlMs > 0)) {
      throw new RangeError(
        `Cannot remember TLS failures as 'ttlMs' must be > 0: current value is ${ttlMs}`,
      );
    }
    if (!(maxEntries >= 1)) {
      throw new RangeError(
        `Cannot remember TLS failures as 'maxEntries' must be >= 1: current value is ${maxEntries}`,
      );
    }
    this.#clock = options.clock;
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
  }

  /** Whether `peer` had a failed handshake less than the TTL ago. */
  isBroken(peer: string): boolean {
    const entry = this.#entries.get(peer.toLowerCase());
    if (!entry) return false;
    if (entry.until > this.#clock.now()) return true;
    this.#entries.delete(entry.peer);
    return false;
  }

  /** Records a failed handshake with `peer`. */
  remember(peer: string, reason: string): void {
    const key = peer.toLowerCase();
    const since = this.#clock.now();
    this.#entries.delete(key);
    this.#entries.set(key, { peer: key, reason, since, until: since + this.#ttlMs });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(oldest);
    }
  }

  /** Forgets `peer`, e.g. after a successful handshake. */
  forget(peer: string): void {
    this.#entries.delete(peer.toLowerCase());
  }

  /** The unexpired entries, oldest first (for the admin API and logs). */
  list(): BrokenTlsPeer[] {
    const now = this.#clock.now();
    return [...this.#entries.values()].filter((e) => e.until > now);
  }
}
