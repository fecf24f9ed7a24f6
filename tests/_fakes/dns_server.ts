/**
 * A tiny authoritative DNS server over UDP (and TCP) on 127.0.0.1 or ::1, for proving the real
 * resolver path (WireResolver over the network) end to end. It answers MX, A, AAAA, TXT and SOA from an
 * in-memory zone (and TLSA, for DANE); a name absent from the zone is NXDOMAIN, a present name
 * without the asked type is NODATA (RFC 2308 §2.2), both with an SOA in the authority section so
 * negative answers carry a TTL. Names listed in `ad` play a signed zone seen through a
 * validating resolver: their answers (records, NODATA or NXDOMAIN) carry the AD bit when the
 * query set DO (RFC 6840 §5.7); no RRSIGs are sent, since the stub never checks them. Names listed in `servfail` answer SERVFAIL; names in `silent` are
 * never answered (to provoke timeouts). Names in `truncate` get an empty UDP answer with the TC
 * bit set, and the full answer over TCP on the same port (RFC 7766), which it also serves.
 *
 * It uses `node:dgram` because `Deno.listenDatagram` still needs `--unstable-net` in Deno 2.9.
 *
 * @module
 */
import dgram from "node:dgram";
import { Buffer } from "node:buffer";

/** Records of one name. */
export interface ZoneEntry {
  readonly mx?: readonly { readonly preference: number; readonly exchange: string }[];
  readonly a?: readonly string[];
  readonly aaaa?: readonly string[];
  /**
   * TXT records: a string is cut into character-strings of at most 255 octets, as a zone file
   * would need; an array gives the character-strings of one record as they are.
   */
  readonly txt?: readonly (string | readonly string[])[];
  /** An alias: answers carry the CNAME and then the target's records (RFC 1034 §3.6.2). */
  readonly cname?: string;
  /** TLSA records (RFC 6698 §2.1), for names like `_25._tcp.mx.example.test`. */
  readonly tlsa?: readonly {
    readonly usage: number;
    readonly selector: number;
    readonly matchingType: number;
    readonly data: Uint8Array;
  }[];
}

export interface DnsServerOptions {
  /** Lower-case names without the trailing dot. */
  readonly zone: Readonly<Record<string, ZoneEntry>>;
  /** TTL of every record, in seconds (default 300). */
  readonly ttl?: number;
  readonly servfail?: readonly string[];
  readonly silent?: readonly string[];
  readonly truncate?: readonly string[];
  /** Names (present or not) whose answers set the AD bit for a query with DO set. */
  readonly ad?: readonly string[];
  /** Loopback address to bind (default 127.0.0.1). */
  readonly hostname?: "127.0.0.1" | "::1";
}

/** One question the server received, for assertions. */
export interface SeenQuery {
  readonly name: string;
  readonly type: string;
  readonly transport: "udp" | "tcp";
  /** The query's OPT record had the DO bit (RFC 3225 §3). */
  readonly dnssecOk: boolean;
}

const TYPE = { A: 1, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28, OPT: 41, TLSA: 52 } as const;
const TYPE_NAME: Record<number, string> = {
  1: "A",
  6: "SOA",
  15: "MX",
  16: "TXT",
  28: "AAAA",
  52: "TLSA",
};
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;

export class DnsServer {
  readonly queries: SeenQuery[] = [];
  readonly #socket: dgram.Socket;
  readonly #listener: Deno.TcpListener;
  readonly #options: DnsServerOptions;
  readonly #conns = new Set<Deno.Conn>();
  readonly #serving: Promise<void>;

  private constructor(socket: dgram.Socket, listener: Deno.TcpListener, options: DnsServerOptions) {
    this.#socket = socket;
    this.#listener = listener;
    this.#options = options;
    socket.on("message", (msg, rinfo) => {
      const reply = this.#answer(msg, "udp");
      if (reply) socket.send(reply, rinfo.port, rinfo.address);
    });
    this.#serving = this.#serveTcp();
  }

  /** Binds UDP and TCP on the same free port of 127.0.0.1 (or ::1). */
  static async start(options: DnsServerOptions): Promise<DnsServer> {
    const hostname = options.hostname ?? "127.0.0.1";
    for (let attempt = 0; attempt < 10; attempt++) {
      const socket = await bindUdp(hostname);
      try {
        const listener = Deno.listen({ hostname, port: socket.address().port });
        return new DnsServer(socket, listener, options);
      } catch (err) {
        await new Promise<void>((resolve) => socket.close(() => resolve()));
        if (!(err instanceof Deno.errors.AddrInUse)) throw err;
      }
    }
    throw new Error("Cannot start DnsServer as no port was free for both UDP and TCP");
  }

  /** This server as one of WireResolver's `nameServers`. */
  get nameServer(): { ipAddr: string; port: number } {
    const { address, port } = this.#socket.address();
    return { ipAddr: address, port };
  }

  async close(): Promise<void> {
    this.#listener.close();
    for (const conn of this.#conns) conn.close();
    await this.#serving;
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #serveTcp(): Promise<void> {
    const handlers: Promise<void>[] = [];
    try {
      for await (const conn of this.#listener) {
        this.#conns.add(conn);
        handlers.push(this.#serveConn(conn).finally(() => this.#conns.delete(conn)));
      }
    } catch {
      // The listener was closed.
    }
    await Promise.allSettled(handlers);
  }

  async #serveConn(conn: Deno.Conn): Promise<void> {
    try {
      const head = await readExactly(conn, 2);
      const query = await readExactly(conn, head.readUInt16BE(0));
      const reply = this.#answer(query, "tcp");
      if (reply) await conn.write(Buffer.concat([u16(reply.length), reply]));
    } catch {
      // The client went away, or close() closed the connection.
    } finally {
      try {
        conn.close();
      } catch {
        // Already closed by close().
      }
    }
  }

  #answer(query: Buffer, transport: "udp" | "tcp"): Buffer | undefined {
    if (query.length < 12) return undefined;
    const id = query.readUInt16BE(0);
    const flags = query.readUInt16BE(2);
    const qdcount = query.readUInt16BE(4);
    if ((flags & 0x8000) !== 0 || qdcount !== 1) return undefined;
    const question = readName(query, 12);
    if (!question) return undefined;
    const qEnd = question.end + 4;
    if (qEnd > query.length) return undefined;
    const qtype = query.readUInt16BE(question.end);
    const name = question.name.toLowerCase();
    const opt = readOpt(query, qEnd);
    const dnssecOk = opt?.dnssecOk ?? false;
    this.queries.push({ name, type: TYPE_NAME[qtype] ?? String(qtype), transport, dnssecOk });
    if (this.#options.silent?.includes(name)) return undefined;

    const questionBytes = query.subarray(12, qEnd);
    if (transport === "udp" && this.#options.truncate?.includes(name)) {
      const header = Buffer.alloc(12);
      header.writeUInt16BE(id, 0);
      header.writeUInt16BE(0x8000 | 0x0400 | 0x0200 | (flags & 0x0100) | 0x0080, 2); // TC set
      header.writeUInt16BE(1, 4);
      return Buffer.concat([header, questionBytes]);
    }
    const ttl = this.#options.ttl ?? 300;
    const entry = this.#options.zone[name];
    let rcode: number = RCODE.NOERROR;
    let answers: Buffer[] = [];
    if (this.#options.servfail?.includes(name)) rcode = RCODE.SERVFAIL;
    else if (!entry) rcode = RCODE.NXDOMAIN;
    else if (![TYPE.MX, TYPE.A, TYPE.AAAA, TYPE.TXT, TYPE.SOA, TYPE.TLSA].includes(qtype as 1)) {
      rcode = RCODE.NOTIMP;
    } else if (entry.cname) {
      const target = this.#options.zone[entry.cname];
      answers = [
        record(encodeOwner(), TYPE.CNAME, ttl, encodeName(entry.cname)),
        ...(target ? recordsFor(target, qtype, ttl, encodeName(entry.cname)) : []),
      ];
    } else answers = recordsFor(entry, qtype, ttl, encodeOwner());

    // RFC 2308 §3: negative answers carry the zone's SOA so they can be cached.
    const authority = answers.length === 0 && rcode !== RCODE.SERVFAIL ? [soa(ttl)] : [];
    // RFC 6840 §5.7: AD only for a query that showed it understands DNSSEC; never on SERVFAIL.
    const ad = dnssecOk && rcode !== RCODE.SERVFAIL && this.#options.ad?.includes(name)
      ? 0x0020
      : 0;
    const header = Buffer.alloc(12);
    header.writeUInt16BE(id, 0);
    // QR, opcode copied, AA, RD copied, RA, AD, rcode.
    header.writeUInt16BE(
      0x8000 | (flags & 0x7800) | 0x0400 | (flags & 0x0100) | 0x0080 | ad | rcode,
      2,
    );
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    header.writeUInt16BE(authority.length, 8);
    // RFC 6891 §7: a query with OPT gets an OPT back (payload 1232), DO echoed (RFC 3225 §3).
    const echo = opt
      ? [Buffer.from([0, 0, TYPE.OPT, 0x04, 0xd0, 0, 0, dnssecOk ? 0x80 : 0, 0, 0, 0])]
      : [];
    header.writeUInt16BE(echo.length, 10);
    return Buffer.concat([header, questionBytes, ...answers, ...authority, ...echo]);
  }
}

function bindUdp(hostname: string): Promise<dgram.Socket> {
  const socket = dgram.createSocket(hostname === "::1" ? "udp6" : "udp4");
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, hostname, () => {
      socket.off("error", reject);
      resolve(socket);
    });
  });
}

async function readExactly(conn: Deno.Conn, length: number): Promise<Buffer> {
  const out = Buffer.alloc(length);
  let have = 0;
  while (have < length) {
    const n = await conn.read(out.subarray(have));
    if (n === null) throw new Error("connection closed early");
    have += n;
  }
  return out;
}

/** The question name, as a compression pointer to offset 12. */
function encodeOwner(): Buffer {
  return Buffer.from([0xc0, 0x0c]);
}

function recordsFor(entry: ZoneEntry, qtype: number, ttl: number, owner: Buffer): Buffer[] {
  if (qtype === TYPE.MX) {
    return (entry.mx ?? []).map((mx) =>
      record(owner, TYPE.MX, ttl, Buffer.concat([u16(mx.preference), encodeName(mx.exchange)]))
    );
  }
  if (qtype === TYPE.A) return (entry.a ?? []).map((ip) => record(owner, TYPE.A, ttl, ipv4(ip)));
  if (qtype === TYPE.AAAA) {
    return (entry.aaaa ?? []).map((ip) => record(owner, TYPE.AAAA, ttl, ipv6(ip)));
  }
  if (qtype === TYPE.TXT) {
    return (entry.txt ?? []).map((t) => record(owner, TYPE.TXT, ttl, characterStrings(t)));
  }
  if (qtype === TYPE.TLSA) {
    return (entry.tlsa ?? []).map((t) =>
      record(
        owner,
        TYPE.TLSA,
        ttl,
        Buffer.concat([Buffer.from([t.usage, t.selector, t.matchingType]), Buffer.from(t.data)]),
      )
    );
  }
  return [];
}

/** The query's OPT record (RFC 6891 §6.1.2), when its additional section starts with one. */
function readOpt(query: Buffer, at: number): { dnssecOk: boolean } | undefined {
  if (query.readUInt16BE(10) === 0 || at + 11 > query.length) return undefined;
  if (query[at] !== 0 || query.readUInt16BE(at + 1) !== TYPE.OPT) return undefined;
  return { dnssecOk: (query.readUInt16BE(at + 7) & 0x8000) !== 0 };
}

/** TXT RDATA: each character-string as a length octet and its octets (RFC 1035 §3.3.14). */
function characterStrings(text: string | readonly string[]): Buffer {
  const whole = typeof text === "string" ? Buffer.from(text, "utf8") : undefined;
  const parts = whole
    ? Array.from(
      { length: Math.max(1, Math.ceil(whole.length / 255)) },
      (_, i) => whole.subarray(i * 255, i * 255 + 255),
    )
    : (text as readonly string[]).map((s) => Buffer.from(s, "utf8"));
  return Buffer.concat(parts.flatMap((p) => [Buffer.from([p.length]), p]));
}

function record(owner: Buffer, type: number, ttl: number, rdata: Buffer): Buffer {
  const head = Buffer.alloc(10);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(1, 2); // class IN
  head.writeUInt32BE(ttl, 4);
  head.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([owner, head, rdata]);
}

function soa(ttl: number): Buffer {
  const times = Buffer.alloc(20);
  [1, 3600, 600, 86400, ttl].forEach((v, i) => times.writeUInt32BE(v, i * 4));
  const rdata = Buffer.concat([encodeName("ns.test"), encodeName("hostmaster.test"), times]);
  return record(encodeName("test"), TYPE.SOA, ttl, rdata);
}

function readName(buf: Buffer, offset: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let at = offset;
  for (let i = 0; i < 128; i++) {
    if (at >= buf.length) return undefined;
    const len = buf[at]!;
    if (len === 0) return { name: labels.join("."), end: at + 1 };
    if (len > 63 || at + 1 + len > buf.length) return undefined; // no compression in questions
    labels.push(buf.subarray(at + 1, at + 1 + len).toString("latin1"));
    at += 1 + len;
  }
  return undefined;
}

function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, "").split(".").filter((l) => l !== "");
  return Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, "latin1")])),
    Buffer.from([0]),
  ]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}

function ipv4(ip: string): Buffer {
  return Buffer.from(ip.split(".").map((p) => Number(p)));
}

function ipv6(ip: string): Buffer {
  const [head = "", tail] = ip.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const zeros = tail === undefined ? [] : Array(8 - left.length - right.length).fill("0");
  const out = Buffer.alloc(16);
  [...left, ...zeros, ...right].forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
