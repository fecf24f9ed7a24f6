/**
 * A stub {@link Resolver} that speaks the DNS protocol itself (UDP, TCP on truncation) to
 * recursive name servers, because `Deno.resolveDns` hides what mail routing needs: it returns
 * no TTLs, and NXDOMAIN (permanent), NODATA (fall back to the implicit MX) and SERVFAIL
 * (transient) all reject with the same `Deno.errors.NotFound`.
 *
 * Each query goes out from a fresh UDP socket (a random source port) with a random ID; a reply
 * counts only if it comes from the server asked, with the same ID and question (RFC 5452 §9.1).
 * Servers are tried in order, `attempts` rounds; SERVFAIL, REFUSED, timeouts and network
 * errors move on to the next server; NOERROR and NXDOMAIN are final.
 *
 * With `dnssec`, every query sets the DO bit (RFC 3225) and an answer is marked `secure` when
 * the AD bit is set by a server whose AD bit is trusted (see {@link trustsAd}). A validating
 * resolver answers SERVFAIL for data that fails validation ("bogus", RFC 4035 §5.5), which
 * comes out as an error, as any other server failure.
 *
 * UDP goes through `node:dgram` because `Deno.listenDatagram` needs `--unstable-net`.
 *
 * @module
 */
import dgram from "node:dgram";
import { isIP } from "node:net";
import { type Clock, runWithDeadline, TimeoutError } from "../../lib/clock.ts";
import { trustsAd } from "./trusts_ad.ts";
import {
  type DnsAnswer,
  type MxRecord,
  type NameServer,
  normalizeName,
  type RecordType,
  type RecordTypes,
  type Resolver,
  type TlsaRecord,
} from "./resolver.ts";
import {
  decodeMessage,
  type DnsMessage,
  encodeQuery,
  RCODE,
  rcodeName,
  type ResourceRecord,
  TYPE_CODE,
} from "./wire_format.ts";

export interface WireResolverOptions {
  readonly clock: Clock;
  /** Recursive name servers, tried in order (see `loadSystemNameServers()`). */
  readonly nameServers: readonly NameServer[];
  /** Deadline of one attempt at one server, in milliseconds (default 3000). */
  readonly timeoutMs?: number;
  /** Rounds over the server list (default 2, as resolv.conf's `attempts`). */
  readonly attempts?: number;
  /** Source of 16-bit query IDs; unpredictable by default (RFC 5452 §4.3). */
  readonly randomId?: () => number;
  /**
   * Ask for DNSSEC (the DO bit) and report which answers are authentic (default false). Needed
   * for DANE (RFC 7672 §2.1); costs larger answers, hence more retries over TCP.
   */
  readonly dnssec?: boolean;
}

// RFC 1034 §3.6.2 allows chains; resolvers cap them. 8 is what BIND follows per query.
const MAX_CNAME_HOPS = 8;

type Exchange =
  | { readonly kind: "message"; readonly message: DnsMessage }
  | { readonly kind: "failed"; readonly reason: string };

export class WireResolver implements Resolver {
  readonly #clock: Clock;
  readonly #servers: readonly NameServer[];
  readonly #timeoutMs: number;
  readonly #attempts: number;
  readonly #randomId: () => number;
  readonly #dnssec: boolean;

  constructor(options: WireResolverOptions) {
    this.#clock = options.clock;
    this.#servers = options.nameServers;
    this.#timeoutMs = options.timeoutMs ?? 3000;
    this.#attempts = options.attempts ?? 2;
    this.#randomId = options.randomId ?? (() => crypto.getRandomValues(new Uint16Array(1))[0]!);
    this.#dnssec = options.dnssec ?? false;
    if (this.#servers.length === 0) {
      throw new RangeError("Cannot create WireResolver as 'nameServers' must not be empty");
    }
    for (const s of this.#servers) {
      if (isIP(s.ipAddr) === 0) {
        throw new RangeError(
          `Cannot create WireResolver as name server ${
            JSON.stringify(s.ipAddr)
          } is not an IP address`,
        );
      }
    }
    if (!(this.#timeoutMs > 0)) {
      throw new RangeError(
        `Cannot create WireResolver as 'timeoutMs' must be > 0: current value is ${this.#timeoutMs}`,
      );
    }
    if (!(this.#attempts >= 1)) {
      throw new RangeError(
        `Cannot create WireResolver as 'attempts' must be >= 1: current value is ${this.#attempts}`,
      );
    }
  }

  async resolve<T extends RecordType>(
    name: string,
    type: T,
    signal?: AbortSignal,
  ): Promise<DnsAnswer<RecordTypes[T]>> {
    const qname = normalizeName(name);
    let lastReason = "";
    for (let round = 0; round < this.#attempts; round++) {
      for (const server of this.#servers) {
        signal?.throwIfAborted();
        const exchange = await this.#ask(server, qname, type, signal);
        if (exchange.kind === "failed") {
          lastReason = exchange.reason;
          continue;
        }
        // The AD bit counts only when we asked for DNSSEC and the server may be believed.
        const secure = this.#dnssec && exchange.message.authenticData && trustsAd(server);
        const answer = interpret<T>(exchange.message, qname, type, secure);
        if (answer.kind !== "error") return answer;
        lastReason = `${answer.reason} from ${describe(server)}`;
      }
    }
    return { kind: "error", reason: `DNS ${type} lookup of ${qname} failed: ${lastReason}` };
  }

  async #ask(
    server: NameServer,
    name: string,
    type: RecordType,
    signal?: AbortSignal,
  ): Promise<Exchange> {
    const id = this.#randomId() & 0xffff;
    const query = encodeQuery(id, name, TYPE_CODE[type], { dnssecOk: this.#dnssec });
    const what = `DNS ${type} ${name} from ${describe(server)}`;
    const check = (message: DnsMessage): Exchange => {
      const q = message.questions[0];
      if (message.questions.length !== 1 || q?.name !== name || q.type !== TYPE_CODE[type]) {
        return { kind: "failed", reason: `${what}: the reply is for another question` };
      }
      return { kind: "message", message };
    };
    try {
      const udp = await runWithDeadline(
        this.#clock,
        this.#timeoutMs,
        what,
        signal,
        (deadline) => udpExchange(server, query, id, deadline),
      );
      const first = check(decodeMessage(udp));
      if (first.kind === "failed" || !first.message.truncated) return first;
      // RFC 1035 §4.2.2 / RFC 7766: a truncated UDP answer is asked again over TCP.
      const tcp = await runWithDeadline(
        this.#clock,
        this.#timeoutMs,
        `${what} over TCP`,
        signal,
        (deadline) => tcpExchange(server, query, deadline),
      );
      const message = decodeMessage(tcp);
      if (message.id !== id) return { kind: "failed", reason: `${what}: TCP reply has another ID` };
      return check(message);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof TimeoutError) return { kind: "failed", reason: err.message };
      const message = err instanceof Error ? err.message : String(err);
      return { kind: "failed", reason: `${what}: ${message}` };
    }
  }
}

function interpret<T extends RecordType>(
  message: DnsMessage,
  name: string,
  type: T,
  secure: boolean,
): DnsAnswer<RecordTypes[T]> {
  // Added only when true, so answers of a resolver without DNSSEC look as they always did.
  const authentic = secure ? { secure: true as const } : {};
  if (message.rcode === RCODE.NXDOMAIN) {
    return { kind: "nxdomain", ttl: negativeTtl(message), ...authentic };
  }
  if (message.rcode !== RCODE.NOERROR) return { kind: "error", reason: rcodeName(message.rcode) };
  const qtype = TYPE_CODE[type];
  let owner = name;
  let ttl = Infinity;
  for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
    const found = message.answers.filter((rr) => rr.name === owner && rr.type === qtype);
    if (found.length > 0) {
      for (const rr of found) ttl = Math.min(ttl, rr.ttl);
      const records = found.map(toRecord) as RecordTypes[T][];
      const alias = owner === name ? {} : { canonicalName: owner };
      return { kind: "records", records, ttl, ...authentic, ...alias };
    }
    const alias = message.answers.find((rr) => rr.name === owner && rr.data.kind === "cname");
    if (alias?.data.kind !== "cname") break;
    ttl = Math.min(ttl, alias.ttl);
    owner = alias.data.target;
  }
  return { kind: "nodata", ttl: negativeTtl(message), ...authentic };
}

function toRecord(rr: ResourceRecord): MxRecord | TlsaRecord | string {
  switch (rr.data.kind) {
    case "mx":
      return { preference: rr.data.preference, exchange: rr.data.exchange };
    case "a":
    case "aaaa":
      return rr.data.address;
    case "txt":
      return rr.data.text;
    case "tlsa":
      return {
        usage: rr.data.usage,
        selector: rr.data.selector,
        matchingType: rr.data.matchingType,
        data: rr.data.data,
      };
    default:
      return "";
  }
}

/** RFC 2308 §5: a negative answer lives for min(SOA TTL, SOA MINIMUM); without SOA, not at all. */
function negativeTtl(message: DnsMessage): number {
  const soa = message.authority.find((rr) => rr.data.kind === "soa");
  return soa?.data.kind === "soa" ? Math.min(soa.ttl, soa.data.minimum) : 0;
}

function describe(server: NameServer): string {
  const port = server.port ?? 53;
  return isIP(server.ipAddr) === 6 ? `[${server.ipAddr}]:${port}` : `${server.ipAddr}:${port}`;
}

/** Canonical text of an IP address, so `rinfo.address` compares equal to the configured one. */
function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}

function udpExchange(
  server: NameServer,
  query: Uint8Array,
  id: number,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const port = server.port ?? 53;
  const expected = canonicalIp(server.ipAddr);
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const socket = dgram.createSocket(isIP(server.ipAddr) === 6 ? "udp6" : "udp4");
    let done = false;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", onAbort);
      socket.close(settle);
    };
    const onAbort = () => finish(() => reject(signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
    socket.on("error", (err) => finish(() => reject(err)));
    socket.on("message", (msg, rinfo) => {
      // RFC 5452 §9.1: only a reply from the server asked, to our ID, with QR set.
      if (rinfo.port !== port || canonicalIp(rinfo.address) !== expected) return;
      if (msg.length < 12 || msg.readUInt16BE(0) !== id || (msg[2]! & 0x80) === 0) return;
      const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength).slice();
      finish(() => resolve(bytes));
    });
    socket.send(query, port, server.ipAddr, (err) => {
      if (err) finish(() => reject(err));
    });
  });
}

async function tcpExchange(
  server: NameServer,
  query: Uint8Array,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: server.ipAddr, port: server.port ?? 53, signal });
  const onAbort = () => closeQuietly(conn);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    // RFC 1035 §4.2.2: each message is prefixed with its length as two octets.
    const framed = new Uint8Array(2 + query.length);
    new DataView(framed.buffer).setUint16(0, query.length);
    framed.set(query, 2);
    for (let sent = 0; sent < framed.length;) sent += await conn.write(framed.subarray(sent));
    const head = await readExactly(conn, 2);
    return await readExactly(conn, (head[0]! << 8) | head[1]!);
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
    closeQuietly(conn);
  }
}

async function readExactly(conn: Deno.Conn, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let have = 0;
  while (have < length) {
    const n = await conn.read(out.subarray(have));
    if (n === null) throw new Error(`connection closed after ${have} of ${length} octets`);
    have += n;
  }
  return out;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed: the abort handler and the finally block may both get here.
  }
}
