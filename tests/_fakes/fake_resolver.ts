/**
 * An in-memory {@link Resolver} for routing logic: a zone of names, each with MX/A/AAAA/TXT/TLSA
 * records. A name absent from the zone is NXDOMAIN; a present name without records of the asked
 * type is NODATA. `fail()` makes a name (and type) answer a transient error, or hang until the
 * caller's signal aborts. A name with `secure: true` answers as DNSSEC-validated; names absent
 * from the zone do when listed in the `secureNxdomain` option; `cname` gives its answers a
 * `canonicalName`, as a resolver that followed an alias would.
 *
 * @module
 */
import {
  type DnsAnswer,
  type MxRecord,
  normalizeName,
  type RecordType,
  type RecordTypes,
  type Resolver,
  type TlsaRecord,
} from "../../relay/dns/resolver.ts";

export interface FakeZoneEntry {
  /** Exchange `"."` (or `""`) is the null MX. */
  readonly mx?: readonly MxRecord[];
  readonly a?: readonly string[];
  readonly aaaa?: readonly string[];
  /** TXT records, each its character-strings already joined. */
  readonly txt?: readonly string[];
  readonly tlsa?: readonly TlsaRecord[];
  /** Answers for this name (records and NODATA) are DNSSEC-authentic. */
  readonly secure?: boolean;
  /** The name the records are reported at, as if CNAMEs had led there. */
  readonly canonicalName?: string;
  /** TTL of this name's records, seconds (default: the resolver's). */
  readonly ttl?: number;
}

export type FakeFailure = "error" | "hang";

export class FakeResolver implements Resolver {
  /** Every question asked, in order. */
  readonly queries: { readonly name: string; readonly type: RecordType }[] = [];
  readonly #zone = new Map<string, FakeZoneEntry>();
  readonly #failures = new Map<string, FakeFailure>();
  readonly #ttl: number;
  readonly #negativeTtl: number;
  readonly #secureNxdomain: ReadonlySet<string>;

  constructor(
    zone: Readonly<Record<string, FakeZoneEntry>> = {},
    options: {
      readonly ttl?: number;
      readonly negativeTtl?: number;
      /** Names absent from the zone whose NXDOMAIN is DNSSEC-authentic. */
      readonly secureNxdomain?: readonly string[];
    } = {},
  ) {
    for (const [name, entry] of Object.entries(zone)) this.set(name, entry);
    this.#ttl = options.ttl ?? 300;
    this.#negativeTtl = options.negativeTtl ?? 60;
    this.#secureNxdomain = new Set((options.secureNxdomain ?? []).map(normalizeName));
  }

  /** Adds or replaces a name. */
  set(name: string, entry: FakeZoneEntry): this {
    this.#zone.set(normalizeName(name), entry);
    return this;
  }

  /** Removes a name: it becomes NXDOMAIN. */
  delete(name: string): this {
    this.#zone.delete(normalizeName(name));
    return this;
  }

  /** Makes lookups of `name` (of one type, or all) fail in the given way. */
  fail(name: string, failure: FakeFailure, type: RecordType | "*" = "*"): this {
    this.#failures.set(`${type} ${normalizeName(name)}`, failure);
    return this;
  }

  /** Undoes every `fail()`. */
  heal(): this {
    this.#failures.clear();
    return this;
  }

  count(name: string, type?: RecordType): number {
    const n = normalizeName(name);
    return this.queries.filter((q) => q.name === n && (!type || q.type === type)).length;
  }

  resolve<T extends RecordType>(
    rawName: string,
    type: T,
    signal?: AbortSignal,
  ): Promise<DnsAnswer<RecordTypes[T]>> {
    signal?.throwIfAborted();
    const name = normalizeName(rawName);
    this.queries.push({ name, type });
    const failure = this.#failures.get(`${type} ${name}`) ?? this.#failures.get(`* ${name}`);
    if (failure === "hang") {
      return new Promise((_, reject) => {
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    }
    if (failure === "error") {
      return Promise.resolve({ kind: "error", reason: `SERVFAIL for ${type} ${name}` });
    }
    const entry = this.#zone.get(name);
    if (!entry) {
      const secure = this.#secureNxdomain.has(name) ? { secure: true as const } : {};
      return Promise.resolve({ kind: "nxdomain", ttl: this.#negativeTtl, ...secure });
    }
    const secure = entry.secure ? { secure: true as const } : {};
    const records = recordsOf(entry, type) as readonly RecordTypes[T][];
    if (records.length === 0) {
      return Promise.resolve({ kind: "nodata", ttl: this.#negativeTtl, ...secure });
    }
    const alias = entry.canonicalName ? { canonicalName: normalizeName(entry.canonicalName) } : {};
    return Promise.resolve({
      kind: "records",
      records,
      ttl: entry.ttl ?? this.#ttl,
      ...secure,
      ...alias,
    });
  }
}

function recordsOf(entry: FakeZoneEntry, type: RecordType): readonly unknown[] {
  switch (type) {
    case "MX":
      return (entry.mx ?? []).map((r) => ({
        preference: r.preference,
        exchange: r.exchange === "." ? "" : normalizeName(r.exchange),
      }));
    case "A":
      return entry.a ?? [];
    case "AAAA":
      // The canonical RFC 5952 form, as real resolvers return it.
      return (entry.aaaa ?? []).map((ip) => new URL(`http://[${ip}]/`).hostname.slice(1, -1));
    case "TXT":
      return entry.txt ?? [];
    case "TLSA":
      return entry.tlsa ?? [];
  }
}
