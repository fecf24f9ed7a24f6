/**
 * Postfix as a reference relay for benchmarks, from Debian's `postfix` package:
 *
 * - {@link startCountingSink}: `smtp-sink -c`, which prints a running message counter; read
 *   as it comes, so a benchmark counts what actually arrived.
 * - {@link startPostfixRelay}: a private Postfix instance that accepts mail on a free loopback
 *   port and relays everything to one next hop (the sink). Mail it accepts is put on hold
 *   (`check_client_access static:HOLD`), so a backlog can be injected first and then released
 *   at once (`postsuper -H ALL` moves it to the deferred queue, then `postqueue -f` starts a
 *   queue run: a benchmark times only the latter).
 * - {@link injectSmtp}: a small pipelining SMTP client that injects many messages over parallel
 *   sessions, each to its own recipient (smtp-source can only vary the local part).
 *
 * Everything runs as children of the caller with its own config and queue under a temp dir, and
 * is stopped and removed by `stop()`. Like tests/_peers/postfix.ts it needs root.
 *
 * @module
 */
import { freePort, hasPostfix, run, startMaster, untilListening } from "./postfix.ts";

export { hasPostfix };

const POSTFIX = "/usr/sbin/postfix";
const POSTSUPER = "/usr/sbin/postsuper";
const POSTQUEUE = "/usr/sbin/postqueue";
const SMTP_SINK = "/usr/sbin/smtp-sink";

/** A running `smtp-sink -c`. */
export interface CountingSink extends AsyncDisposable {
  readonly port: number;
  readonly pid: number;
  /** Messages received so far (the sink's own counter). */
  received(): number;
  stop(): Promise<void>;
}

/**
 * Starts `smtp-sink` (PIPELINING, 8BITMIME; discards everything) with a running counter.
 * `maxConnections` (its `-m`, default 256 there) bounds the sessions it serves at once; more
 * wait in the kernel's accept backlog, so set it above the clients' total concurrency.
 */
export async function startCountingSink(
  options: { readonly maxConnections?: number } = {},
): Promise<CountingSink> {
  const port = freePort();
  const max = options.maxConnections ?? 4096;
  const child = new Deno.Command(SMTP_SINK, {
    args: ["-c", "-u", "postfix", "-m", String(max), `127.0.0.1:${port}`, String(max)],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let count = 0;
  // The counter line is rewritten in place: "\rsess=N quit=N mesg=N".
  const reading = (async () => {
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      const text = rest + chunk;
      const matches = [...text.matchAll(/mesg=(\d+)/g)];
      const last = matches.at(-1);
      if (last) count = Number(last[1]);
      rest = text.slice(text.lastIndexOf("\r") + 1);
    }
  })();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await child.status;
    await reading;
  };
  try {
    await untilListening(port);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port,
    pid: child.pid,
    received: () => count,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Tuning of the reference Postfix; every field is a main.cf parameter of the same meaning. */
export interface PostfixRelayTuning {
  /** `default_process_limit`: most smtp (and smtpd) processes at once. */
  readonly processLimit: number;
  /** `default_destination_concurrency_limit`: parallel deliveries to one next hop. */
  readonly destinationConcurrency: number;
}

/** A running private Postfix relay. */
export interface PostfixRelay extends AsyncDisposable {
  /** Where it accepts mail (smtpd). */
  readonly port: number;
  /** The master process: its process tree is Postfix. */
  readonly pid: number;
  /** Messages in the queue (every queue directory), counted from the files. */
  queued(): number;
  /** Messages on hold. */
  held(): number;
  /**
   * Moves everything on hold to the deferred queue, where it waits for the next queue run
   * (`queue_run_delay`, 300 s by default): nothing is sent yet.
   */
  unhold(): Promise<void>;
  /** Starts a queue run now (`postqueue -f`). */
  flush(): Promise<void>;
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts a private Postfix that holds what it accepts and relays to `127.0.0.1:nextHopPort`. */
export async function startPostfixRelay(
  nextHopPort: number,
  tuning: PostfixRelayTuning,
): Promise<PostfixRelay> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-postfix-relay-" });
  await Deno.chmod(dir, 0o755);
  for (const sub of ["etc", "queue", "data"]) await Deno.mkdir(`${dir}/${sub}`);
  const port = freePort();
  const etc = `${dir}/etc`;
  await Deno.writeTextFile(`${etc}/main.cf`, relayMainCf(dir, nextHopPort, tuning));
  await Deno.writeTextFile(`${etc}/master.cf`, relayMasterCf(port));
  await run(POSTFIX, ["-c", etc, "set-permissions", "create-missing"]);
  await run(POSTFIX, ["-c", etc, "check"]);
  const master = startMaster(etc, dir);
  const stop = master.stop;

  const readLog = () => Deno.readTextFile(`${dir}/maillog`).catch(() => "(no log)");
  try {
    await untilListening(port);
  } catch (err) {
    const log = await readLog();
    await stop();
    throw new Error(`Cannot start the Postfix relay on port ${port}: ${err}\n${log}`);
  }
  const queue = `${dir}/queue`;
  return {
    port,
    pid: master.pid,
    queued: () =>
      ["maildrop", "incoming", "active", "deferred", "hold"]
        .reduce((n, q) => n + countFiles(`${queue}/${q}`), 0),
    held: () => countFiles(`${queue}/hold`),
    unhold: () => run(POSTSUPER, ["-c", etc, "-H", "ALL"]),
    flush: () => run(POSTQUEUE, ["-c", etc, "-f"]),
    log: readLog,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

function relayMainCf(dir: string, nextHopPort: number, t: PostfixRelayTuning): string {
  return [
    "compatibility_level = 3.6",
    `queue_directory = ${dir}/queue`,
    `data_directory = ${dir}/data`,
    "meta_directory = /etc/postfix",
    "mail_owner = postfix",
    "setgid_group = postdrop",
    "myhostname = relay.test",
    "mydestination =",
    "relay_domains =",
    "local_recipient_maps =",
    "alias_maps =",
    "alias_database =",
    "inet_interfaces = 127.0.0.1",
    "inet_protocols = ipv4",
    "mynetworks = 127.0.0.0/8",
    "smtpd_relay_restrictions = permit_mynetworks, reject",
    // Everything accepted goes on hold until the benchmark releases it.
    "smtpd_client_restrictions = check_client_access static:HOLD",
    // Every recipient, whatever its domain, to the one next hop (numeric: no DNS at all).
    `relayhost = [127.0.0.1]:${nextHopPort}`,
    "smtp_dns_support_level = disabled",
    "smtp_tls_security_level = none",
    "smtpd_tls_security_level = none",
    `default_process_limit = ${t.processLimit}`,
    `default_destination_concurrency_limit = ${t.destinationConcurrency}`,
    // The injection must not be slowed by qmgr's back-pressure: nothing is delivered meanwhile.
    "in_flow_delay = 0",
    "smtpd_client_connection_count_limit = 0",
    "smtpd_client_message_rate_limit = 0",
    "message_size_limit = 60000000",
    "smtputf8_enable = no",
    `maillog_file_prefixes = ${dir}`,
    `maillog_file = ${dir}/maillog`,
    "biff = no",
    "",
  ].join("\n");
}

function relayMasterCf(port: number): string {
  return [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    "pickup unix n - n 60 1 pickup",
    "cleanup unix n - n - 0 cleanup",
    "qmgr unix n - n 300 1 qmgr",
    "rewrite unix - - n - - trivial-rewrite",
    "bounce unix - - n - 0 bounce",
    "defer unix - - n - 0 bounce",
    "trace unix - - n - 0 bounce",
    "verify unix - - n - 1 verify",
    "flush unix n - n 1000? 0 flush",
    "proxymap unix - - n - - proxymap",
    "smtp unix - - n - - smtp",
    "relay unix - - n - - smtp",
    "error unix - - n - - error",
    "retry unix - - n - - error",
    "discard unix - - n - - discard",
    "anvil unix - - n - 1 anvil",
    "scache unix - - n - 1 scache",
    "postlog unix-dgram n - n - 1 postlogd",
    "",
  ].join("\n");
}

function countFiles(path: string): number {
  let n = 0;
  try {
    for (const e of Deno.readDirSync(path)) {
      if (e.isDirectory) n += countFiles(`${path}/${e.name}`);
      else if (e.isFile) n++;
    }
  } catch {
    // Not created yet.
  }
  return n;
}

/** What {@link injectSmtp} sends. */
export interface Injection {
  readonly messages: number;
  /** Parallel SMTP sessions; message i goes over session i % sessions. */
  readonly sessions: number;
  readonly from: string;
  /** The recipient of message i. */
  recipient(i: number): string;
  /** The whole RFC 5322 message i (CRLF line ends, no line starting with "."). */
  message(i: number): string;
}

/**
 * Sends `messages` messages to an SMTP server over `sessions` sessions, each one MAIL/RCPT/DATA
 * pipelined (RFC 2920), waiting for the final reply before the next. Throws on any reply other
 * than the expected success.
 */
export async function injectSmtp(port: number, o: Injection): Promise<void> {
  await Promise.all(
    Array.from({ length: o.sessions }, (_, s) => injectSession(port, o, s)),
  );
}

async function injectSession(port: number, o: Injection, session: number): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const replies = new ReplyReader(conn);
  const enc = new TextEncoder();
  const write = async (text: string) => {
    const bytes = enc.encode(text);
    for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
  };
  const expect = async (code: number, what: string) => {
    const reply = await replies.next();
    if (!reply.startsWith(String(code))) {
      throw new Error(`Cannot inject as ${what} got '${reply}' instead of ${code}`);
    }
  };
  try {
    await expect(220, "the greeting");
    await write("EHLO inject.test\r\n");
    await expect(250, "EHLO");
    for (let i = session; i < o.messages; i += o.sessions) {
      await write(`MAIL FROM:<${o.from}>\r\nRCPT TO:<${o.recipient(i)}>\r\nDATA\r\n`);
      await expect(250, "MAIL FROM");
      await expect(250, "RCPT TO");
      await expect(354, "DATA");
      await write(`${o.message(i)}\r\n.\r\n`);
      await expect(250, "the end of data");
    }
    await write("QUIT\r\n");
    await expect(221, "QUIT");
  } finally {
    conn.close();
  }
}

/** Reads SMTP replies (RFC 5321 §4.2: "ddd-" continues, "ddd " ends); returns the last line. */
class ReplyReader {
  #buffer = "";
  readonly #conn: Deno.Conn;
  readonly #chunk = new Uint8Array(16 * 1024);
  readonly #dec = new TextDecoder();

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async next(): Promise<string> {
    for (;;) {
      const line = await this.#line();
      if (line.length < 4 || line[3] !== "-") return line;
    }
  }

  async #line(): Promise<string> {
    for (let reads = 0; reads < 1_000; reads++) {
      const end = this.#buffer.indexOf("\r\n");
      if (end >= 0) {
        const line = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        return line;
      }
      const n = await this.#conn.read(this.#chunk);
      if (n === null) throw new Error("Cannot read a reply as the server closed the connection");
      this.#buffer += this.#dec.decode(this.#chunk.subarray(0, n));
    }
    throw new Error("Cannot read a reply as no line ended within 1,000 reads");
  }
}
