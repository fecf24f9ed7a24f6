/**
 * A private Dovecot POP3 server for tests: its own config, TLS certificate, passwd-file and
 * Maildir under a temp dir, listening on free 127.0.0.1 ports for POP3 (110-style, STLS offered)
 * and POP3S (995-style, implicit TLS). Never touches the system's Dovecot.
 *
 * With `authSocketOwner`, its auth service also listens on a unix socket that user may connect
 * to: Postfix's `smtpd_sasl_type = dovecot` checks SMTP AUTH against the same passwd-file
 * (tests/_peers/postfix.ts `submission`), and {@link DovecotPeer.setPassword} changes it live.
 *
 * With `lmtp`, it also takes mail over LMTP (RFC 2033) on a free 127.0.0.1 port, as the final hop
 * of an MTA (Postfix's `lmtp` transport, tests/_peers/postfix.ts `lmtp`): `<user>@<any domain>`
 * lands in the user's Maildir, where POP3 reads it. Needs Debian's `dovecot-lmtpd`.
 *
 * ```ts ignore
 * await using dovecot = await startDovecot();
 * await dovecot.deliver("a.eml", bytes);
 * ```
 *
 * Tests needing it skip themselves with `ignore: !dovecotAvailable`.
 *
 * @module
 */

export const DOVECOT_BIN = "/usr/sbin/dovecot";
/** Dovecot's LMTP service, from Debian's `dovecot-lmtpd`. */
export const DOVECOT_LMTP_BIN = "/usr/lib/dovecot/lmtp";
const DOVEADM_BIN = "/usr/bin/doveadm";
const SETSID_BIN = "/usr/bin/setsid";

/** Whether Debian's Dovecot is installed here (`dovecot-core`, `dovecot-pop3d`). */
export const dovecotAvailable: boolean = exists(DOVECOT_BIN);

/** Whether its LMTP service is installed too (`dovecot-lmtpd`), for {@link StartDovecotOptions.lmtp}. */
export const dovecotLmtpAvailable: boolean = dovecotAvailable && exists(DOVECOT_LMTP_BIN);

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

export interface DovecotPeer {
  readonly host: "127.0.0.1";
  /** Plain POP3 port (STLS and APOP offered). */
  readonly pop3Port: number;
  /** POP3 over TLS port. */
  readonly pop3sPort: number;
  /** With `lmtp`: the LMTP port on 127.0.0.1 (plain, no LHLO authentication). */
  readonly lmtpPort: number | undefined;
  /** The CA that signed the server certificate (PEM), for `caCerts`. */
  readonly caCert: string;
  readonly user: string;
  readonly password: string;
  /** The user's Maildir. */
  readonly maildir: string;
  /** Drops a message into the Maildir's `new/`, as a local delivery agent would. */
  deliver(name: string, message: Uint8Array | string): Promise<void>;
  /** How many messages the Maildir holds (new + cur). */
  count(): Promise<number>;
  /**
   * The auth socket for Postfix (`smtpd_sasl_path`), owned by `authSocketOwner`; undefined
   * without that option.
   */
  readonly authSocket: string | undefined;
  /**
   * Replaces the user's password in the passwd-file. Dovecot has no auth cache here and re-reads
   * the file when it changes, so the next login (POP3 or SASL) checks the new one.
   */
  setPassword(password: string): Promise<void>;
  /** Disconnects the user's open sessions from the server side (`doveadm kick`). */
  kick(): Promise<void>;
  /** Stops the server and removes its directory. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface StartDovecotOptions {
  readonly user?: string;
  readonly password?: string;
  /**
   * Also serve SASL to this user and group (e.g. `postfix`) on a unix socket (mode 0660), for
   * an MTA's SMTP AUTH. Needs root to hand the socket over, as on CI.
   */
  readonly authSocketOwner?: string;
  /**
   * Also serve LMTP on a free 127.0.0.1 port (`lmtpPort`): mail for `<user>@<domain>`, whatever
   * the domain, is stored in the user's Maildir.
   */
  readonly lmtp?: boolean;
}

interface Accounts {
  readonly internalUser: string;
  readonly loginUser: string;
  readonly mailUid: number;
  readonly mailGid: number;
}

/** Starts a private Dovecot; resolves once its POP3 port accepts connections. */
export async function startDovecot(options: StartDovecotOptions = {}): Promise<DovecotPeer> {
  const user = options.user ?? "bounces";
  const password = options.password ?? "s3cret-Pa55";
  const dir = await Deno.makeTempDir({ prefix: "ferry-dovecot-" });
  // Mail processes run as an unprivileged user: it must traverse the temp dir.
  await Deno.chmod(dir, 0o755);
  const accounts = await chooseAccounts();
  const tls = await certificates(dir);
  const maildir = `${dir}/mail/${user}`;
  for (const sub of ["", "/new", "/cur", "/tmp"]) {
    await Deno.mkdir(`${maildir}${sub}`, { recursive: true, mode: 0o700 });
  }
  await Deno.mkdir(`${dir}/home/${user}`, { recursive: true, mode: 0o700 });
  if (Deno.uid() === 0) {
    for (const path of [`${dir}/mail`, maildir, `${maildir}/new`, `${maildir}/cur`]) {
      await Deno.chown(path, accounts.mailUid, accounts.mailGid);
    }
    await Deno.chown(`${maildir}/tmp`, accounts.mailUid, accounts.mailGid);
    await Deno.chown(`${dir}/home`, accounts.mailUid, accounts.mailGid);
    await Deno.chown(`${dir}/home/${user}`, accounts.mailUid, accounts.mailGid);
  }
  // scheme=PLAIN: APOP needs the plaintext secret on the server side (RFC 1939 §7).
  const passwd = (secret: string) => `${user}:{PLAIN}${secret}::::::\n`;
  await Deno.writeTextFile(`${dir}/passwd`, passwd(password));
  const [pop3Port, pop3sPort, lmtpPort] = await freePorts(3);
  let authSocket: string | undefined;
  if (options.authSocketOwner !== undefined) {
    // Its own directory, traversable by the MTA's user; Dovecot creates the socket inside.
    await Deno.mkdir(`${dir}/sasl`, { mode: 0o755 });
    await Deno.chmod(`${dir}/sasl`, 0o755);
    authSocket = `${dir}/sasl/auth`;
  }
  const conf = `${dir}/dovecot.conf`;
  await Deno.writeTextFile(
    conf,
    config(dir, accounts, tls, pop3Port!, pop3sPort!, options.lmtp ? lmtpPort! : undefined) +
      (authSocket ? saslListener(authSocket, options.authSocketOwner!) : ""),
  );

  // In a session of its own (setsid execs, so the pid stays the master's): stopping kills the
  // whole group at once. A graceful SIGTERM costs a fixed second in Dovecot's master (it sleeps
  // while its log process drains), multiplied by every test that starts a server.
  const grouped = exists(SETSID_BIN);
  const child = new Deno.Command(grouped ? SETSID_BIN : DOVECOT_BIN, {
    args: [...(grouped ? [DOVECOT_BIN] : []), "-F", "-c", conf],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      if (grouped) Deno.kill(-child.pid, "SIGKILL");
      else child.kill("SIGTERM");
    } catch {
      // Already exited: its status below says how.
    }
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => undefined);
  };
  try {
    await waitForPort(pop3Port!, child.status, `${dir}/dovecot.log`);
    if (options.lmtp) await waitForPort(lmtpPort!, child.status, `${dir}/dovecot.log`);
  } catch (err) {
    await stop();
    throw err;
  }

  let seq = 0;
  return {
    host: "127.0.0.1",
    pop3Port: pop3Port!,
    pop3sPort: pop3sPort!,
    lmtpPort: options.lmtp ? lmtpPort! : undefined,
    caCert: tls.caCert,
    user,
    password,
    maildir,
    authSocket,
    async setPassword(secret) {
      // Written aside and renamed: Dovecot never reads a half-written file. It notices a change
      // by mtime (seconds) and size, so the mtime is moved on even within the same second.
      const before = (await Deno.stat(`${dir}/passwd`)).mtime?.getTime() ?? 0;
      await Deno.writeTextFile(`${dir}/passwd.new`, passwd(secret));
      const mtime = new Date(Math.max(Date.now(), before + 1000));
      await Deno.utime(`${dir}/passwd.new`, mtime, mtime);
      await Deno.rename(`${dir}/passwd.new`, `${dir}/passwd`);
    },
    async deliver(name, message) {
      // Maildir delivery: write in tmp/, then rename into new/ (atomic for the reader).
      const file = `${name.replace(/[^A-Za-z0-9._-]/g, "_")}.${++seq}.ferry-test`;
      const tmp = `${maildir}/tmp/${file}`;
      if (typeof message === "string") await Deno.writeTextFile(tmp, message);
      else await Deno.writeFile(tmp, message);
      if (Deno.uid() === 0) await Deno.chown(tmp, accounts.mailUid, accounts.mailGid);
      await Deno.rename(tmp, `${maildir}/new/${file}`);
    },
    async count() {
      let n = 0;
      for (const sub of ["new", "cur"]) {
        for await (const entry of Deno.readDir(`${maildir}/${sub}`)) if (entry.isFile) n++;
      }
      return n;
    },
    async kick() {
      await run(DOVEADM_BIN, ["-c", conf, "kick", user]);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

function config(
  dir: string,
  accounts: Accounts,
  tls: { certFile: string; keyFile: string },
  pop3Port: number,
  pop3sPort: number,
  lmtpPort: number | undefined,
): string {
  return `# Generated by tests/_peers/dovecot.ts: a throwaway POP3 server.
protocols = pop3${lmtpPort !== undefined ? " lmtp" : ""}
listen = 127.0.0.1
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
default_internal_user = ${accounts.internalUser}
default_login_user = ${accounts.loginUser}
first_valid_uid = ${Math.min(accounts.mailUid, 500)}
ssl = yes
ssl_cert = <${tls.certFile}
ssl_key = <${tls.keyFile}
ssl_min_protocol = TLSv1.2
# The client under test refuses plaintext passwords by itself; the server must not hide that.
disable_plaintext_auth = no
auth_mechanisms = plain login apop
auth_failure_delay = 0
# Anvil's auth penalty delays each failed login from an IP by up to 15 s (2 s, 4 s...): tests
# that fail on purpose, through Postfix's SASL too, would wait on it. The auth process (not
# root) cannot open a socket of mode 0, so it runs without the penalty.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
mail_location = maildir:${dir}/mail/%u
pop3_uidl_format = %08Xu%08Xv
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/passwd
}
userdb {
  driver = static
  args = uid=${accounts.mailUid} gid=${accounts.mailGid} home=${dir}/home/%u
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${pop3Port}
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = ${pop3sPort}
    ssl = yes
  }
}
${lmtpPort !== undefined ? lmtpConfig(lmtpPort) : ""}`;
}

/**
 * LMTP for an MTA's final hop. The MTA gives full addresses (RCPT TO:<user@domain>) and the
 * passwd-file knows bare user names: the domain is dropped before any lookup, for every
 * protocol (a POP3 login with the bare name is unchanged).
 */
function lmtpConfig(port: number): string {
  return `auth_username_format = %Ln
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${port}
  }
}
`;
}

/** The auth service's extra listener for an MTA's SASL (Dovecot's documented Postfix setup). */
function saslListener(path: string, owner: string): string {
  return `service auth {
  unix_listener ${path} {
    mode = 0660
    user = ${owner}
    group = ${owner}
  }
}
`;
}

/** As root (CI): Debian's `dovecot`/`dovenull` and `nobody` for mail. Otherwise: ourselves. */
async function chooseAccounts(): Promise<Accounts> {
  if (Deno.uid() !== 0) {
    const me = (await run("id", ["-un"])).trim();
    return { internalUser: me, loginUser: me, mailUid: Deno.uid()!, mailGid: Deno.gid()! };
  }
  const passwd = await Deno.readTextFile("/etc/passwd");
  const entry = (name: string) => passwd.split("\n").find((l) => l.startsWith(`${name}:`));
  const nobody = entry("nobody")?.split(":");
  return {
    internalUser: entry("dovecot") ? "dovecot" : "nobody",
    loginUser: entry("dovenull") ? "dovenull" : "nobody",
    mailUid: Number(nobody?.[2] ?? 65534),
    mailGid: Number(nobody?.[3] ?? 65534),
  };
}

interface TlsFiles {
  readonly caCert: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** A CA and a leaf for 127.0.0.1 (rustls rejects a CA certificate used as the server's own). */
async function certificates(dir: string): Promise<TlsFiles> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run("openssl", [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    `${dir}/ca.key`,
    "-out",
    `${dir}/ca.pem`,
    "-days",
    "2",
    "-subj",
    "/CN=Ferry test CA",
  ]);
  await run("openssl", [
    "req",
    ...ec,
    "-keyout",
    `${dir}/key.pem`,
    "-out",
    `${dir}/req.csr`,
    "-subj",
    "/CN=127.0.0.1",
  ]);
  await Deno.writeTextFile(
    `${dir}/leaf.ext`,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n" +
      "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
  );
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    `${dir}/req.csr`,
    "-CA",
    `${dir}/ca.pem`,
    "-CAkey",
    `${dir}/ca.key`,
    "-CAcreateserial",
    "-out",
    `${dir}/cert.pem`,
    "-days",
    "2",
    "-extfile",
    `${dir}/leaf.ext`,
  ]);
  return {
    caCert: await Deno.readTextFile(`${dir}/ca.pem`),
    certFile: `${dir}/cert.pem`,
    keyFile: `${dir}/key.pem`,
  };
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdin: "null" }).output();
  if (!out.success) {
    throw new Error(
      `Cannot run ${cmd} ${args[0]} as it exited with ${out.code}: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

/** Ports the kernel just handed out on 127.0.0.1 (bound on port 0, read, released). */
async function freePorts(n: number): Promise<number[]> {
  const listeners = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return await Promise.resolve(ports);
}

/**
 * Polls the port until Dovecot accepts (bounded: ~10 s), failing early if the master exits.
 * Real waiting is right here: this is an external process starting, not time under test.
 */
async function waitForPort(
  port: number,
  exited: Promise<Deno.CommandStatus>,
  logFile: string,
): Promise<void> {
  let status: Deno.CommandStatus | undefined;
  exited.then((s) => status = s);
  for (let attempt = 0; attempt < 500; attempt++) {
    if (status) break;
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  const log = await Deno.readTextFile(logFile).catch(() => "(no log)");
  throw new Error(
    `Cannot start Dovecot as ${
      status ? `it exited with ${status.code}` : "its POP3 port never opened"
    }: ${log.trim().split("\n").slice(-5).join(" | ")}`,
  );
}
