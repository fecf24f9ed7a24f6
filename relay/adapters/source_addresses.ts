/**
 * Egress source addresses: which local address a connection to a destination leaves from, and
 * the EHLO name that goes with it. A pool is used in turn, one address per connection, so the
 * traffic (and the reputation it builds) spreads over every address. A destination's own pool
 * (keyed `domain`, `*.suffix` or `*`, as the `domains` policies are) replaces the global one.
 *
 * @module
 */
import { isIP } from "node:net";

/** One configured address; `ehlo` defaults to the relay's host name. */
export interface SourceAddress {
  readonly address: string;
  readonly ehlo?: string;
}

/** What a connection binds to and says in EHLO. */
export interface ChosenSource {
  readonly address: string;
  readonly heloName: string;
}

export interface SourceAddressesOptions {
  /** The global pool; empty: connections leave from whatever address the system chooses. */
  readonly global: readonly SourceAddress[];
  /** Pools by destination key (`domain`, `*.suffix`, `*`); the most specific key wins. */
  readonly byDomain?: Readonly<Record<string, readonly SourceAddress[]>>;
  /** The EHLO name of an address without its own. */
  readonly defaultHelo: string;
}

export class SourceAddresses {
  readonly #o: SourceAddressesOptions;
  /** The next index per pool: the round-robin is per pool, not per destination. */
  readonly #next = new Map<readonly SourceAddress[], number>();

  constructor(options: SourceAddressesOptions) {
    this.#o = options;
  }

  /** True when some pool is configured, i.e. {@link pick} may bind a connection. */
  get configured(): boolean {
    return this.#o.global.length > 0 || Object.keys(this.#o.byDomain ?? {}).length > 0;
  }

  /**
   * The source for the next connection to `peerAddress` of `destination`, or undefined (the
   * system's choice, the default EHLO name). Only addresses of the peer's family qualify: an
   * IPv4 source cannot reach an IPv6 peer; with none of that family, the system chooses.
   */
  pick(destination: string, peerAddress: string): ChosenSource | undefined {
    const pool = this.#poolFor(destination);
    if (pool.length === 0) return undefined;
    const family = isIP(peerAddress);
    const fits = family === 0 ? pool : pool.filter((s) => isIP(s.address) === family);
    if (fits.length === 0) return undefined;
    const n = this.#next.get(pool) ?? 0;
    this.#next.set(pool, n + 1);
    const chosen = fits[n % fits.length]!;
    return { address: chosen.address, heloName: chosen.ehlo ?? this.#o.defaultHelo };
  }

  /**
   * True when `destination` has a pool of its own (an exact or `*.suffix` key): its mail must
   * not share a domain actor (MX rollup) with other domains, whose connections would leave from
   * its addresses, or it from theirs. A `*` pool is everyone's and needs no such care.
   */
  ownPool(destination: string): boolean {
    return this.#match(destination).own;
  }

  #poolFor(destination: string): readonly SourceAddress[] {
    return this.#match(destination).pool;
  }

  #match(destination: string): { readonly pool: readonly SourceAddress[]; readonly own: boolean } {
    const byDomain = this.#o.byDomain ?? {};
    const at = (key: string) => Object.hasOwn(byDomain, key) ? byDomain[key] : undefined;
    const d = destination.toLowerCase().replace(/\.$/, "");
    const exact = at(d);
    if (exact) return { pool: exact, own: true };
    // Longest suffix first: `*.mail.example.com` before `*.example.com`.
    const labels = d.split(".");
    for (let i = 1; i < labels.length; i++) {
      const pool = at(`*.${labels.slice(i).join(".")}`);
      if (pool) return { pool, own: true };
    }
    return { pool: at("*") ?? this.#o.global, own: false };
  }
}
