/**
 * Where policies are kept between fetches: a port, so the library knows no database. Policies
 * must outlive restarts and be shared by every instance (RFC 8461 §5.1 relies on a cached
 * policy to resist an attacker who blocks the next fetch), which the PostgreSQL adapter gives;
 * {@link MemoryMtaStsStore} serves tests and single runs.
 *
 * @module
 */
import type { StsMode } from "./policy_file.ts";

/** A policy as fetched: what `put` stores. Times are milliseconds since the epoch. */
export interface PolicyRecord {
  /** The recipient domain, lower-case, without trailing dot. */
  readonly domain: string;
  /** The `id` of the TXT record the policy was fetched for. */
  readonly id: string;
  readonly mode: StsMode;
  readonly mx: readonly string[];
  /** Seconds, as the policy gave it. */
  readonly maxAge: number;
  readonly fetchedAt: number;
  /** `fetchedAt + maxAge`: the policy may be applied until then. */
  readonly expiresAt: number;
}

/** A stored policy, with the last refresh that failed since it was fetched. */
export interface StoredPolicy extends PolicyRecord {
  readonly lastError: { readonly message: string; readonly at: number } | null;
}

export interface MtaStsStore {
  /** The policy stored for `domain` (lower-case), expired or not. */
  get(domain: string): Promise<StoredPolicy | undefined>;
  /**
   * Stores a freshly fetched policy, replacing the domain's previous one and clearing its
   * error. Returns false, storing nothing, when the stored policy was fetched later (another
   * instance was quicker): a slow fetch never overwrites a newer one.
   */
  put(policy: PolicyRecord): Promise<boolean>;
  /** Notes on the domain's stored policy, if there is one, that a refresh failed. */
  noteError(domain: string, message: string, at: number): Promise<void>;
}

/** A store in memory: for tests, and for running without a database. */
export class MemoryMtaStsStore implements MtaStsStore {
  readonly #policies = new Map<string, StoredPolicy>();

  get(domain: string): Promise<StoredPolicy | undefined> {
    return Promise.resolve(this.#policies.get(domain));
  }

  put(policy: PolicyRecord): Promise<boolean> {
    const held = this.#policies.get(policy.domain);
    if (held && held.fetchedAt > policy.fetchedAt) return Promise.resolve(false);
    this.#policies.set(policy.domain, { ...policy, mx: [...policy.mx], lastError: null });
    return Promise.resolve(true);
  }

  noteError(domain: string, message: string, at: number): Promise<void> {
    const held = this.#policies.get(domain);
    if (held) this.#policies.set(domain, { ...held, lastError: { message, at } });
    return Promise.resolve();
  }
}
