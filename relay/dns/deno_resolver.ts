/**
 * {@link Resolver} over `Deno.resolveDns`.
 *
 * Two limits of `Deno.resolveDns` in Deno 2.9 shape this adapter:
 * - it returns no TTLs (there is no `ttl` option; the records carry none), so every positive
 *   answer is given the configured `ttl` (default 300 s);
 * - NXDOMAIN, NODATA and SERVFAIL all reject with the same `Deno.errors.NotFound`
 *   ("no records found for Query ..."), so the only honest answer is `notfound`, which routing
 *   must not turn into a bounce on its own. {@link WireResolver} sees the response code and
 *   the TTLs, and is the one to use in production.
 *
 * @module
 */
import { type Clock, TimeoutError } from "../../lib/clock.ts";
import { runWithDeadline } from "./deadline.ts";
import {
  type DnsAnswer,
  type MxRecord,
  type NameServer,
  normalizeName,
  type RecordType,
  type RecordTypes,
  type Resolver,
} from "./resolver.ts";

export interface DenoResolverOptions {
  readonly clock: Clock;
  /** Name server to ask; the system's (`/etc/resolv.conf`) when absent. */
  readonly nameServer?: NameServer;
  /** Deadline of one lookup in milliseconds (default 10 000). */
  readonly timeoutMs?: number;
  /** TTL given to every positive answer, in seconds, as Deno does not report one (default 300). */
  readonly ttl?: number;
  /**
   * TTL given to `notfound`, in seconds (default 60): short, because it may hide a SERVFAIL.
   */
  readonly negativeTtl?: number;
  /** The function to call; tests may substitute it. Defaults to `Deno.resolveDns`. */
  readonly resolveDns?: typeof Deno.resolveDns;
}

export class DenoResolver implements Resolver {
  readonly #clock: Clock;
  readonly #nameServer: NameServer | undefined;
  readonly #timeoutMs: number;
  readonly #ttl: number;
  readonly #negativeTtl: number;
  readonly #resolveDns: typeof Deno.resolveDns;

  constructor(options: DenoResolverOptions) {
    this.#clock = options.clock;
    this.#nameServer = options.nameServer;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#ttl = options.ttl ?? 300;
    this.#negativeTtl = options.negativeTtl ?? 60;
    this.#resolveDns = options.resolveDns ?? Deno.resolveDns;
    if (!(this.#timeoutMs > 0)) {
      throw new RangeError(
        `Cannot create DenoResolver as 'timeoutMs' must be > 0: current value is ${this.#timeoutMs}`,
      );
    }
  }

  async resolve<T extends RecordType>(
    name: string,
    type: T,
    signal?: AbortSignal,
  ): Promise<DnsAnswer<RecordTypes[T]>> {
    signal?.throwIfAborted();
    const what = `DNS ${type} lookup of ${name}`;
    try {
      const records = await runWithDeadline(this.#clock, this.#timeoutMs, what, signal, (both) => {
        const nameServer = this.#nameServer
          ? { ipAddr: this.#nameServer.ipAddr, port: this.#nameServer.port ?? 53 }
          : undefined;
        const options = { nameServer, signal: both };
        return type === "TXT"
          ? this.#resolveDns(name, "TXT", options)
          : this.#resolveDns(name, type as "MX" | "A" | "AAAA", options);
      });
      if (records.length === 0) return { kind: "notfound", ttl: this.#negativeTtl };
      const mapped = type === "MX"
        ? (records as Deno.MxRecord[]).map((r): MxRecord => ({
          preference: r.preference,
          exchange: normalizeName(r.exchange),
        }))
        : type === "TXT"
        // Deno gives each record's character-strings apart; the port joins them (RFC 7208 §3.3).
        ? (records as string[][]).map((strings) => strings.join(""))
        : (records as string[]).map((ip) => ip.toLowerCase());
      return { kind: "records", records: mapped as RecordTypes[T][], ttl: this.#ttl };
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof Deno.errors.NotFound) return { kind: "notfound", ttl: this.#negativeTtl };
      if (err instanceof TimeoutError) return { kind: "error", reason: err.message };
      const message = err instanceof Error ? err.message : String(err);
      return { kind: "error", reason: `${what} failed: ${message}` };
    }
  }
}
