/**
 * Real Postfix peers for tests and benchmarks, from Debian's `postfix` package:
 *
 * - {@link startPostfix}: a private Postfix instance as receiving MX for the domain `mx.test` on
 *   a free 127.0.0.1 port, with STARTTLS on the given certificate and SMTPUTF8, delivering every
 *   recipient into one Maildir under a temp dir, so a test can read the bytes back. With
 *   `submission`, it is also a smarthost: a submission service (587-style: STARTTLS required,
 *   then SMTP AUTH) and an smtps service (465-style: implicit TLS, then SMTP AUTH), each on a
 *   free port, checking credentials through a Dovecot auth socket (tests/_peers/dovecot.ts) and
 *   accepting mail only from an authenticated client. With `listeners`, it plays several MX
 *   hosts at once: more SMTP services, each on its own loopback address, with its own
 *   certificate or no STARTTLS at all; with `domains`, it accepts other domains than `mx.test`;
 *   with `lmtp`, it relays the mail of some domains over LMTP to a mailbox server (Dovecot,
 *   tests/_peers/dovecot.ts `lmtp`) instead of its own Maildir.
 * - {@link startSmtpSink}: Postfix's `smtp-sink` benchmark server, and {@link smtpSourceRate}:
 *   its `smtp-source` client as the reference rate.
 *
 * Everything runs as children of the test process with its own config dir, and is stopped and
 * removed by `stop()`; no system daemon is touched. Tests skip themselves when
 * {@link hasPostfix} is false.
 *
 * @module
 */

const POSTFIX = "/usr/sbin/postfix";
const MASTER = "/usr/lib/postfix/sbin/master";
const SMTP_SINK = "/usr/sbin/smtp-sink";
const SMTP_SOURCE = "/usr/sbin/smtp-source";

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether Postfix (server, smtp-sink and smtp-source) is installed and can be run privately:
 * a private instance needs root (its daemons switch to the `postfix` user), as on CI.
 */
export const hasPostfix = exists(POSTFIX) && exists(MASTER) && exists(SMTP_SINK) &&
  exists(SMTP_SOURCE) && Deno.uid() === 0;

/** A free TCP port on 127.0.0.1 (bound then released: a tiny race, retried by the callers). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Options of {@link startPostfix}. */
export interface PostfixOptions {
  /** PEM files for STARTTLS; without them Postfix does not offer STARTTLS. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /**
   * Also offer mail submission with SMTP AUTH (needs `tls`): `saslPath` is a Dovecot auth socket
   * the `postfix` user may connect to (`startDovecot({ authSocketOwner: "postfix" })`).
   */
  readonly submission?: { readonly saslPath: string };
  /** The domains whose every recipient lands in the Maildir (default `mx.test` alone). */
  readonly domains?: readonly string[];
  /** Recipients refused at RCPT with `550 5.1.1` (a mailbox that does not exist). */
  readonly refusedRecipients?: readonly string[];
  /** EHLO keywords not announced (`smtpd_discard_ehlo_keywords`), e.g. `pipelining`. */
  readonly discardEhloKeywords?: readonly string[];
  /**
   * More SMTP services beside the one on 127.0.0.1:`port`, e.g. one per MX host of a test, each
   * on its own loopback address: with `tls`, STARTTLS on that certificate; with `tls: null`,
   * no STARTTLS offered. Each logs as `postfix/<name>` in {@link PostfixMx.log}.
   */
  readonly listeners?: readonly PostfixListener[];
  /**
   * Domains whose mail Postfix passes on over LMTP to 127.0.0.1:`port` (Dovecot's LMTP service)
   * rather than keeping it: the final hop of a real mail system. Not in `domains`.
   */
  readonly lmtp?: { readonly domains: readonly string[]; readonly port: number };
}

/** One more SMTP service of {@link startPostfix}. */
export interface PostfixListener {
  /** A short word naming it in the log (`postfix/<name>/smtpd`). */
  readonly name: string;
  /** A loopback address: all of 127.0.0.0/8 reaches the loopback interface on Linux. */
  readonly hostname: string;
  readonly port: number;
  readonly tls: { readonly certFile: string; readonly keyFile: string } | null;
}

/** A running private Postfix. */
export interface PostfixMx extends AsyncDisposable {
  readonly hostname: "127.0.0.1";
  readonly port: number;
  /** The virtual mailbox domain it accepts mail for. */
  readonly domain: "mx.test";
  /** With `submission`: STARTTLS (required) then AUTH, as on port 587. */
  readonly submissionPort: number | undefined;
  /** With `submission`: implicit TLS then AUTH, as on port 465. */
  readonly smtpsPort: number | undefined;
  /** Waits (bounded) until `count` messages were delivered; returns them oldest first. */
  delivered(count: number): Promise<Uint8Array[]>;
  /** Postfix's own log, for failure messages. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts a private Postfix MX. */
export async function startPostfix(options: PostfixOptions = {}): Promise<PostfixMx> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-postfix-" });
  // Postfix daemons run as user postfix and must reach the config, certificates and mail dirs.
  await Deno.chmod(dir, 0o755);
  const uid = await idOf("-u", "postfix");
  const gid = await idOf("-g", "postfix");
  for (const sub of ["etc", "queue", "data", "mail"]) await Deno.mkdir(`${dir}/${sub}`);
  await Deno.chown(`${dir}/mail`, uid, gid);
  if (options.submission && !options.tls) {
    throw new Error("Cannot offer submission without TLS: give 'tls' too");
  }
  const port = freePort();
  const submission = options.submission ? { port: freePort(), smtpsPort: freePort() } : undefined;
  await Deno.writeTextFile(`${dir}/etc/main.cf`, mainCf(dir, uid, gid, options));
  await Deno.writeTextFile(
    `${dir}/etc/master.cf`,
    masterCf(port, submission, options.listeners ?? []),
  );
  await run(POSTFIX, ["-c", `${dir}/etc`, "set-permissions", "create-missing"]);
  await run(POSTFIX, ["-c", `${dir}/etc`, "check"]);
  const { stop } = startMaster(`${dir}/etc`, dir);

  try {
    await untilListening(port);
    if (submission) {
      await untilListening(submission.port);
      await untilListening(submission.smtpsPort);
    }
    for (const l of options.listeners ?? []) await untilListening(l.port, l.hostname);
  } catch (err) {
    const log = await Deno.readTextFile(`${dir}/maillog`).catch(() => "(no log)");
    await stop();
    throw new Error(`Cannot start Postfix on port ${port}: ${err}\n${log}`);
  }
  const inbox = `${dir}/mail/inbox/new`;
  const readLog = () => Deno.readTextFile(`${dir}/maillog`).catch(() => "(no log)");
  return {
    hostname: "127.0.0.1",
    port,
    domain: "mx.test",
    submissionPort: submission?.port,
    smtpsPort: submission?.smtpsPort,
    async delivered(count: number) {
      // Postfix delivers asynchronously (smtpd -> cleanup -> qmgr -> virtual): poll the Maildir,
      // bounded, for an external daemon's work rather than for time.
      for (let i = 0; i < 600; i++) {
        const names = exists(inbox) ? [...Deno.readDirSync(inbox)].map((e) => e.name) : [];
        if (names.length >= count) {
          // Maildir names start with the delivery time in seconds, then a unique part.
          const files = await Promise.all(
            names.map(async (n) => ({ n, st: await Deno.stat(`${inbox}/${n}`) })),
          );
          files.sort((a, b) =>
            (a.st.mtime?.getTime() ?? 0) - (b.st.mtime?.getTime() ?? 0) || a.n.localeCompare(b.n)
          );
          return await Promise.all(files.map((f) => Deno.readFile(`${inbox}/${f.n}`)));
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`Cannot find ${count} delivered messages in ${inbox}\n${await readLog()}`);
    },
    log: readLog,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

function mainCf(dir: string, uid: number, gid: number, options: PostfixOptions): string {
  const tls = options.tls
    ? [
      `smtpd_tls_cert_file = ${options.tls.certFile}`,
      `smtpd_tls_key_file = ${options.tls.keyFile}`,
      "smtpd_tls_security_level = may",
      "smtpd_tls_received_header = yes",
    ]
    : ["smtpd_tls_security_level = none"];
  const sasl = options.submission
    ? [
      // SMTP AUTH is checked by Dovecot; it is enabled per service in master.cf, not on port 25.
      "smtpd_sasl_type = dovecot",
      `smtpd_sasl_path = ${options.submission.saslPath}`,
      "smtpd_sasl_auth_enable = no",
      "smtpd_sasl_authenticated_header = yes",
    ]
    : [];
  return [
    "compatibility_level = 3.6",
    `queue_directory = ${dir}/queue`,
    `data_directory = ${dir}/data`,
    "meta_directory = /etc/postfix",
    "mail_owner = postfix",
    "setgid_group = postdrop",
    "myhostname = mx.test",
    "mydestination =",
    "inet_interfaces = 127.0.0.1",
    "inet_protocols = ipv4",
    "mynetworks = 127.0.0.0/8",
    "alias_maps =",
    "alias_database =",
    // The LMTP domains are relayed: accepted from anyone, then passed on by transport_maps.
    `relay_domains = ${(options.lmtp?.domains ?? []).join(", ")}`,
    ...(options.lmtp
      ? [
        `transport_maps = inline:{ ${
          options.lmtp.domains.map((d) => `{ ${d} = lmtp:[127.0.0.1]:${options.lmtp!.port} }`)
            .join(", ")
        } }`,
      ]
      : []),
    // Every recipient of these domains goes to one Maildir (trailing slash = Maildir format).
    ...(options.discardEhloKeywords?.length
      ? [`smtpd_discard_ehlo_keywords = ${options.discardEhloKeywords.join(", ")}`]
      : []),
    ...(options.refusedRecipients?.length
      ? [
        `smtpd_recipient_restrictions = check_recipient_access inline:{ ${
          options.refusedRecipients.map((r) => `{ ${r} = 550 5.1.1 no such user }`).join(", ")
        } }`,
      ]
      : []),
    `virtual_mailbox_domains = ${(options.domains ?? ["mx.test"]).join(", ")}`,
    `virtual_mailbox_base = ${dir}/mail`,
    "virtual_mailbox_maps = static:inbox/",
    `virtual_uid_maps = static:${uid}`,
    `virtual_gid_maps = static:${gid}`,
    "virtual_minimum_uid = 1",
    "virtual_mailbox_limit = 0",
    "message_size_limit = 60000000",
    "smtputf8_enable = yes",
    // Keep the message as sent: no header rewriting or added Message-ID/Date for our client.
    "local_header_rewrite_clients =",
    "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination",
    // Postfix only logs to files under maillog_file_prefixes (default /var, /dev/stdout).
    `maillog_file_prefixes = ${dir}`,
    `maillog_file = ${dir}/maillog`,
    "biff = no",
    ...tls,
    ...sasl,
    "",
  ].join("\n");
}

/** Overrides shared by the submission and smtps services: AUTH on, mail only after AUTH. */
const SUBMISSION_OVERRIDES = [
  "  -o smtpd_sasl_auth_enable=yes",
  "  -o smtpd_tls_auth_only=yes",
  "  -o smtpd_client_restrictions=permit_sasl_authenticated,reject",
  "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject",
];

function masterCf(
  port: number,
  submission: { port: number; smtpsPort: number } | undefined,
  listeners: readonly PostfixListener[],
): string {
  const submit = submission
    ? [
      `127.0.0.1:${submission.port} inet n - n - - smtpd`,
      "  -o syslog_name=postfix/submission",
      "  -o smtpd_tls_security_level=encrypt",
      ...SUBMISSION_OVERRIDES,
      `127.0.0.1:${submission.smtpsPort} inet n - n - - smtpd`,
      "  -o syslog_name=postfix/smtps",
      "  -o smtpd_tls_wrappermode=yes",
      ...SUBMISSION_OVERRIDES,
    ]
    : [];
  const more = listeners.flatMap((l) => [
    `${l.hostname}:${l.port} inet n - n - - smtpd`,
    `  -o syslog_name=postfix/${l.name}`,
    ...(l.tls
      ? [
        `  -o smtpd_tls_cert_file=${l.tls.certFile}`,
        `  -o smtpd_tls_key_file=${l.tls.keyFile}`,
        "  -o smtpd_tls_security_level=may",
      ]
      : ["  -o smtpd_tls_security_level=none"]),
  ]);
  const services = [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    ...submit,
    ...more,
    "cleanup unix n - n - 0 cleanup",
    "qmgr unix n - n 300 1 qmgr",
    "tlsmgr unix - - n 1000? 1 tlsmgr",
    "rewrite unix - - n - - trivial-rewrite",
    "bounce unix - - n - 0 bounce",
    "defer unix - - n - 0 bounce",
    "trace unix - - n - 0 bounce",
    "verify unix - - n - 1 verify",
    "flush unix n - n 1000? 0 flush",
    "proxymap unix - - n - - proxymap",
    "smtp unix - - n - - smtp",
    "lmtp unix - - n - - lmtp",
    "error unix - - n - - error",
    "retry unix - - n - - error",
    "discard unix - - n - - discard",
    "virtual unix - n n - - virtual",
    "anvil unix - - n - 1 anvil",
    "scache unix - - n - 1 scache",
    "postlog unix-dgram n - n - 1 postlogd",
  ];
  return services.join("\n") + "\n";
}

/** A running smtp-sink. */
export interface SmtpSink extends AsyncDisposable {
  readonly hostname: "127.0.0.1";
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts Postfix's `smtp-sink` (PIPELINING, 8BITMIME; discards everything) on a free port. */
export async function startSmtpSink(): Promise<SmtpSink> {
  const port = freePort();
  const child = new Deno.Command(SMTP_SINK, {
    // -u: drop privileges (refused as root otherwise); backlog 256 for 8+ parallel clients.
    args: ["-u", "postfix", `127.0.0.1:${port}`, "256"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await child.status;
  };
  try {
    await untilListening(port);
  } catch (err) {
    await stop();
    throw err;
  }
  return { hostname: "127.0.0.1", port, stop, [Symbol.asyncDispose]: stop };
}

/**
 * Runs `smtp-source` against `port`: `messages` messages with `size` octets of body over
 * `sessions` parallel sessions, each session reusing its connection. Resolves to messages per second.
 */
export async function smtpSourceRate(
  port: number,
  options: { messages: number; size: number; sessions: number },
): Promise<number> {
  const started = performance.now();
  await run(SMTP_SOURCE, [
    "-s",
    String(options.sessions),
    "-m",
    String(options.messages),
    // -d: do not disconnect after each message (one connection per session, reused).
    "-d",
    "-l",
    String(options.size),
    "-f",
    "bench@ferry.test",
    "-t",
    "sink@mx.test",
    `127.0.0.1:${port}`,
  ]);
  return options.messages / ((performance.now() - started) / 1000);
}

/**
 * Starts Postfix's `master -d` on the configuration in `etc`. It stays in the foreground as our
 * child, so stopping it is a signal we own: `stop()` ends it and removes `dir`.
 */
export function startMaster(
  etc: string,
  dir: string,
): { readonly pid: number; stop(): Promise<void> } {
  const master = new Deno.Command(MASTER, {
    args: ["-d", "-c", etc],
    env: { MAIL_CONFIG: etc },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      master.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await master.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return { pid: master.pid, stop };
}

/** Resolves once `hostname`:`port` accepts connections (about 10 s at most). */
export async function untilListening(port: number, hostname = "127.0.0.1"): Promise<void> {
  // A freshly spawned daemon needs a moment to bind: poll its port, bounded (about 10 s).
  for (let i = 0; i < 200; i++) {
    try {
      const conn = await Deno.connect({ hostname, port });
      conn.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`Cannot reach ${hostname}:${port} after 10 s`);
}

/** Runs a command to completion; throws with its output when it fails. */
export async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`Cannot run ${cmd} ${args.join(" ")}: exit ${out.code}: ${text}`);
  }
}

async function idOf(flag: "-u" | "-g", user: string): Promise<number> {
  const out = await new Deno.Command("id", { args: [flag, user], stdout: "piped", stderr: "null" })
    .output();
  const id = Number(new TextDecoder().decode(out.stdout).trim());
  if (!out.success || !Number.isInteger(id)) {
    throw new Error(`Cannot find the uid/gid of '${user}'`);
  }
  return id;
}
