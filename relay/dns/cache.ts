/**
 * A TTL-respecting cache in front of any {@link Resolver}. Positive and negative answers
 * (NXDOMAIN, NODATA, RFC 2308) are kept for their TTL as measured on the injected clock,
 * capped by `maxTtl`; transient errors are not kept, so the next lookup asks again.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import {
  type DnsAnswer,
  normalizeName,
  type RecordType,
  type RecordTypes,
  type Resolver,
} from "./resolver.ts";

export interface DnsCacheOptions {
  readonly clock: Clock;
  /** Most answers kept; the least recently used goes first (default 10 000). */
  readonly maxEntries?: number;
  /** Upper bound on any TTL, in seconds (default 86 400: one day). */
  readonly maxTtl?: number;
}

interface Entry {
  readonly answer: DnsAnswer<unknown>;
  readonly expiresAt: number;
}

export class CachingResolver implements Resolver {
  readonly #inner: Resolver;
  readonly #clock: Clock;
  readonly #maxEntries: number;
  readonly #maxTtl: number;
  readonly #entries = new Map<string, Entry>();

  constructor(inner: Resolver, options: DnsCacheOptions) {
    this.#inner = inner;
    this.#clock = options.clock;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#maxTtl = options.maxTtl ?? 86_400;
    if (!(this.#maxEntries >= 1)) {
      throw new RangeError(
        `Cannot create CachingResolver as 'maxEntries' must be >= 1: current value is ${this.#maxEntries}`,
      );
    }
  }

  /** How many answers are held (expired ones included until they are next asked for). */
  get size(): number {
    return this.#entries.size;
  }

  async resolve<T extends RecordType>(
    name: string,
    type: T,
    signal?: AbortSignal,
  ): Promise<DnsAnswer<RecordTypes[T]>> {
    const key = `${type} ${normalizeName(name)}`;
    const now = this.#clock.now();
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      if (hit.expiresAt > now) {
        this.#entries.set(key, hit); // most recently used goes last
        return withTtl(hit.answer, Math.ceil((hit.expiresAt - now) / 1000)) as DnsAnswer<
          RecordTypes[T]
        >;
      }
    }
    const answer = await this.#inner.resolve(name, type, signal);
    if (answer.kind !== "error") {
      const ttl = Math.min(answer.ttl, this.#maxTtl);
      if (ttl > 0) this.#store(key, { answer, expiresAt: this.#clock.now() + ttl * 1000 });
    }
    return answer;
  }

  /** Forgets everything (e.g. after an operator fixed a DNS record). */
  clear(): void {
    this.#entries.clear();
  }

  #store(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }
}

function withTtl<T>(answer: DnsAnswer<T>, ttl: number): DnsAnswer<T> {
  return answer.kind === "error" ? answer : { ...answer, ttl };
}
