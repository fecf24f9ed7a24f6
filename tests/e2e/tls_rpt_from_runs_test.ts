/**
 * SMTP TLS Reporting (RFC 8460) from real deliveries, end to end. The relay delivers a day's
 * mail to real MX hosts under MTA-STS (RFC 8461) and without a policy; each SMTP session's TLS
 * result goes from the deliverer through the sink into `ferry.tls_rpt_results` (the test
 * records none itself). At `sendHour` the next day the relay reports each policy domain that
 * publishes a `_smtp._tls` record (§3): by mail through itself to `reports.test`, whose MX
 * (Postfix) hands it over LMTP to Dovecot, where the relay's own POP3 client reads it (§5.3);
 * and by HTTPS POST to a local endpoint whose certificate the test CA signed, trusted through
 * `delivery.caFile` (§5.4).
 *
 * Every report must meet §4.4 (`tlsReportSchema`) and say what happened: the policy applied,
 * and success and failure counts equal to the sessions the receiving Postfix logged for that
 * domain's MX host, with the failure types the relay met. Everything runs on loopback: DNS (MX,
 * A, `_mta-sts` and `_smtp._tls` TXT), the policy server, one Postfix playing every MX host on
 * its own address, Dovecot, the report endpoint. Time is the relay's fake clock; only those
 * peers run in real time, and waits on them are bounded.
 */
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { freePort, hasPostfix, startPostfix } from "../_peers/postfix.ts";
import { dovecotLmtpAvailable, startDovecot } from "../_peers/dovecot.ts";
import { requirePeer } from "../_support/peers.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";
import { DnsServer, type ZoneEntry } from "../_fakes/dns_server.ts";
import { hasOpenssl, type Leaf, testCa } from "../relay/mta_sts/_pki.ts";
import { policyFile } from "../relay/mta_sts/_fakes.ts";
import { type ReadReport, readReportMail } from "../relay/tls_rpt/_report_mail.ts";
import { CachingResolver, type Resolver, WireResolver } from "../../relay/dns/mod.ts";
import { type FetchPolicy, httpsPolicyFetcher, POLICY_PATH } from "../../relay/mta_sts/mod.ts";
import { openPop3 } from "../../relay/pop3/mod.ts";
import { type TlsReport, tlsReportSchema } from "../../relay/tls_rpt/mod.ts";
import { enqueue, startTestRelay, T0 } from "./_relay.ts";

const DAY = new Date(T0).toISOString().slice(0, 10);
const DAY_START = Date.parse(`${DAY}T00:00:00Z`);
const HOUR = 3_600_000;
/** sendHour 1: the day's reports are due at 01:00 UTC the next day (RFC 8460 §4.1). */
const DUE = DAY_START + 25 * HOUR;
const WEEK = 604_800;

/** An MX host: its name, the loopback address its Postfix service listens on, its certificate. */
interface Mx {
  readonly name: string;
  readonly address: string;
  readonly tls: "valid" | "expired" | "none";
}

/** One MX host per reported domain: the sessions Postfix logs for a host are that domain's. */
const MX = {
  enforce: { name: "mx.enforce.test", address: "127.0.0.2", tls: "valid" },
  expired: { name: "mx.expired.test", address: "127.0.0.3", tls: "expired" },
  testing: { name: "mx.testing.test", address: "127.0.0.4", tls: "valid" },
  plain: { name: "mx.plain.test", address: "127.0.0.5", tls: "none" },
  reports: { name: "mx.reports.test", address: "127.0.0.6", tls: "valid" },
} as const satisfies Record<string, Mx>;

const RUA_MAIL = "mailto:tlsrpt@reports.test";
const HTTPS_PATH = "/tlsrpt";

interface Case {
  readonly mx: keyof typeof MX;
  /** The MTA-STS policy file served (TXT id "1"); none: no `_mta-sts` record. */
  readonly policy?: string;
  /** The rua of its `_smtp._tls` record, given the endpoint's URL; none: no record. */
  readonly rua?: (https: string) => string;
  readonly mails: number;
}

const POLICY = {
  enforce: policyFile("enforce", WEEK, MX.enforce.name),
  expired: policyFile("enforce", WEEK, MX.expired.name),
  // Lists a host the MX record does not name.
  testing: policyFile("testing", WEEK, "mx.elsewhere.test"),
};

/**
 * The brief's situations: an enforce domain delivered over verified TLS, reported to both a
 * mailbox and the endpoint; an enforce domain whose MX has an expired certificate (its mail
 * deferred and retried until it expires, in the evening); a testing domain whose policy lists
 * another MX (delivered); a domain without a policy whose MX offers no STARTTLS (delivered in
 * the clear); and a domain without a `_smtp._tls` record, which gets no report.
 */
const CASES: Record<string, Case> = {
  "enforce.test": {
    mx: "enforce",
    policy: POLICY.enforce,
    rua: (https) => `${RUA_MAIL},${https}`,
    mails: 2,
  },
  "expired.test": { mx: "expired", policy: POLICY.expired, rua: (https) => https, mails: 1 },
  "testing.test": { mx: "testing", policy: POLICY.testing, rua: () => RUA_MAIL, mails: 1 },
  "plain.test": { mx: "plain", rua: (https) => https, mails: 1 },
  "no-rua.test": { mx: "reports", mails: 1 },
};

function zoneOf(httpsRua: string): Record<string, ZoneEntry> {
  const zone: Record<string, ZoneEntry> = {};
  for (const mx of Object.values(MX)) zone[mx.name] = { a: [mx.address] };
  zone["reports.test"] = { mx: [{ preference: 10, exchange: MX.reports.name }] };
  for (const [domain, c] of Object.entries(CASES)) {
    zone[domain] = { mx: [{ preference: 10, exchange: MX[c.mx].name }] };
    if (c.policy) zone[`_mta-sts.${domain}`] = { txt: ["v=STSv1; id=1;"] };
    // RFC 8460 §3: at `_smtp._tls.<policy domain>`, the rua a comma-separated list.
    if (c.rua) zone[`_smtp._tls.${domain}`] = { txt: [`v=TLSRPTv1; rua=${c.rua(httpsRua)}`] };
  }
  return zone;
}

/** The policy lines a report carries for a policy file (RFC 8460 §4.4 `policy-string`). */
const linesOf = (file: string) => file.split("\r\n").filter((l) => l !== "");

/** Counts lookups, fetches and POSTs in flight, so the pump moves fake time only once they end. */
class Busy {
  count = 0;
  run<T>(work: () => Promise<T>): Promise<T> {
    this.count++;
    return work().finally(() => this.count--);
  }
}

/** An HTTPS server on 127.0.0.1: the `mta-sts.<domain>` policy host, or the report endpoint. */
function serveHttps(cert: Leaf, handler: (req: Request) => Response | Promise<Response>) {
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: cert.certPem,
    key: cert.keyPem,
    onListen: () => {},
  }, handler);
  return { port: server.addr.port, [Symbol.asyncDispose]: () => server.shutdown() };
}

/** A report as the endpoint received it. */
interface Posted {
  readonly path: string;
  readonly type: string | null;
  readonly json: unknown;
}

/**
 * The SMTP sessions each Postfix service saw, by how they ended, from the line it logs when a
 * client leaves (`disconnect from ... ehlo=2 starttls=1 mail=1 ... commands=7`): `tls` reached
 * TLS, `tlsFailed` broke off in the handshake (the client's alert), `plain` never tried it.
 * A connection closed before EHLO (a port probe, a connect given up) is no session here.
 */
async function sessionsAtMx(log: string): Promise<
  Record<string, { tls: number; tlsFailed: number; plain: number }>
> {
  const seen: Record<string, { tls: number; tlsFailed: number; plain: number }> = {};
  for (const m of log.matchAll(/postfix\/(\w+)\/smtpd\[\d+\]: disconnect from \S+ (.*)$/gm)) {
    const stats = m[2]!;
    if (!/\behlo=/.test(stats)) continue;
    const s = seen[m[1]!] ??= { tls: 0, tlsFailed: 0, plain: 0 };
    if (/\bstarttls=1\b/.test(stats)) s.tls++;
    else if (/\bstarttls=0\/1\b/.test(stats)) s.tlsFailed++;
    else s.plain++;
  }
  return await Promise.resolve(seen);
}

Deno.test({
  name: "TLS-RPT from real deliveries: the day's reports by mail into Dovecot and by HTTPS POST",
  ignore: requirePeer(
    "postfix+dovecot-lmtpd+openssl",
    !hasPostfix || !dovecotLmtpAvailable || !hasOpenssl,
  ),
  sanitizeResources: false, // Postfix's sockets, the HTTPS servers' connections
  sanitizeOps: false,
  async fn() {
    const started = performance.now();
    const ca = await testCa();
    const certs: Record<string, Leaf | null> = {};
    for (const [name, mx] of Object.entries(MX)) {
      certs[name] = mx.tls === "valid"
        ? await ca.leaf([mx.name])
        : mx.tls === "expired"
        ? await ca.expiredLeaf([mx.name])
        : null;
    }
    const policyCert = await ca.leaf(
      Object.keys(CASES).filter((d) => CASES[d]!.policy).map((d) => `mta-sts.${d}`),
    );
    // The rua names an address: the endpoint's certificate carries it as an IP SAN.
    const endpointCert = await ca.leaf(["127.0.0.1"]);

    await using dovecot = await startDovecot({ user: "tlsrpt", lmtp: true });
    const port = freePort();
    await using postfix = await startPostfix({
      domains: Object.keys(CASES),
      lmtp: { domains: ["reports.test"], port: dovecot.lmtpPort! },
      listeners: Object.entries(MX).map(([name, mx]) => ({
        name,
        hostname: mx.address,
        port,
        tls: certs[name]!,
      })),
    });

    const posted: Posted[] = [];
    await using endpoint = serveHttps(endpointCert, async (req) => {
      const body = new Uint8Array(await req.arrayBuffer());
      posted.push({
        path: new URL(req.url).pathname,
        type: req.headers.get("content-type"),
        json: JSON.parse(new TextDecoder().decode(gunzipSync(body))),
      });
      return new Response(null, { status: 204 });
    });
    const httpsRua = `https://127.0.0.1:${endpoint.port}${HTTPS_PATH}`;
    await using policies = serveHttps(policyCert, (req) => {
      const host = (req.headers.get("host") ?? "").replace(/:\d+$/, "");
      const file = new URL(req.url).pathname === POLICY_PATH
        ? CASES[host.replace(/^mta-sts\./, "")]?.policy
        : undefined;
      return file === undefined
        ? new Response("no policy here\n", { status: 404 })
        : new Response(file, { headers: { "content-type": "text/plain" } });
    });
    await using dns = await DnsServer.start({ zone: zoneOf(httpsRua), ttl: 300 });

    const clock = new FakeClock(T0);
    const busy = new Busy();
    const wire = new CachingResolver(
      new WireResolver({ clock, nameServers: [dns.nameServer], attempts: 1 }),
      { clock },
    );
    const resolver: Resolver = {
      resolve: (name, type, signal) => busy.run(() => wire.resolve(name, type, signal)),
    };
    // The real HTTPS client, its TCP connection sent to the policy server: the certificate is
    // still verified for mta-sts.<domain>, against the test CA.
    const fetchPolicy = httpsPolicyFetcher({
      clock,
      caCerts: [ca.caPem],
      connectTo: { hostname: "127.0.0.1", port: policies.port },
    });
    const fetchMtaStsPolicy: FetchPolicy = (domain, signal) =>
      busy.run(() => fetchPolicy(domain, signal));

    await using r = await startTestRelay({
      routes: "",
      clock,
      config: {
        // The test CA: the MX certificates under MTA-STS, and the report endpoint's. The night
        // is pumped a minute at a time: a destination lease renewed every third of 15 s would
        // lapse within one step, and its actor be stopped as if another instance held it.
        delivery: { caFile: ca.caFile, domainLease: "10m" },
        tlsReports: {
          organizationName: "Ferry E2E",
          contact: "postmaster@relay.test",
          from: "TLS reports <tlsrpt@relay.test>",
          sendHour: 1,
        },
      },
      deps: {
        resolver,
        fetchMtaStsPolicy,
        mxPort: port,
        // The relay's own poster (delivery.caFile), counted while a POST is in flight.
        wrapReportPoster: (post) => (url, gzip, signal) => busy.run(() => post(url, gzip, signal)),
      },
    });
    r.io.probe(() => busy.count);

    // The day: every mail at 10:00; the one for expired.test may be retried until 20:00, so
    // every session of the day is over before midnight.
    const recipients: string[] = [];
    for (const [domain, c] of Object.entries(CASES)) {
      for (let i = 1; i <= c.mails; i++) {
        const to = `user${i}@${domain}`;
        recipients.push(to);
        await enqueue(r, {
          to: [to],
          subject: `${domain} ${i}`,
          ...(domain === "expired.test" ? { expiresAt: T0 + 10 * HOUR } : {}),
        });
      }
    }
    await r.pumpUntil(
      async () => {
        const now = await r.statuses();
        return recipients.every((to) =>
          now[to] === (to.endsWith("@expired.test") ? "deferred" : "delivered")
        );
      },
      "the day's mail delivered, expired.test's deferred",
      1000,
      600,
    );

    // The night: expired.test retried until it expires, then at 01:00 the reports.
    const reportRows = () =>
      r.t.db.selectFrom("ferry.tls_rpt_reports").selectAll().where("day", "=", DAY)
        .orderBy("policy_domain").orderBy("rua").execute();
    await r.pumpUntil(
      async () => {
        if (r.clock.now() < DUE) return false;
        const now = await r.statuses();
        return now["user1@expired.test"] === "expired" && posted.length >= 3 &&
          now["tlsrpt@reports.test"] === "delivered";
      },
      "the day's reports posted and mailed",
      60_000,
      1200,
    );
    console.log(`reports out at ${new Date(r.clock.now()).toISOString()}`);

    // What the receiving side saw of the day (Postfix logs on its own time: bounded wait).
    const expectedSessions = async () => {
      for (let i = 0;; i++) {
        const seen = await sessionsAtMx(await postfix.log());
        const counters = await r.t.db.selectFrom("ferry.tls_rpt_results")
          .select((eb) => eb.fn.sum<number>("sessions").as("n")).where("day", "=", DAY)
          .where("policy_domain", "<>", "no-rua.test").executeTakeFirstOrThrow();
        const atMx = ["enforce", "expired", "testing", "plain"].reduce(
          (n, h) => n + (seen[h]?.tls ?? 0) + (seen[h]?.tlsFailed ?? 0) + (seen[h]?.plain ?? 0),
          0,
        );
        if (atMx >= Number(counters.n) || i === 100) return seen;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const seen = await expectedSessions();
    console.log(`sessions at each MX host: ${JSON.stringify(seen)}`);
    const at = (h: keyof typeof MX) => seen[h] ?? { tls: 0, tlsFailed: 0, plain: 0 };
    assert.ok(at("enforce").tls >= 1 && at("enforce").tlsFailed + at("enforce").plain === 0);
    assert.ok(at("expired").tlsFailed >= 2, "retried, each time refused at the handshake");
    assert.equal(at("expired").tls + at("expired").plain, 0);
    assert.ok(at("testing").tls >= 1 && at("testing").tlsFailed + at("testing").plain === 0);
    assert.ok(at("plain").plain >= 1 && at("plain").tls + at("plain").tlsFailed === 0);
    const rows = await reportRows();
    console.log(rows.map((x) => `${x.policy_domain} ${x.rua || "-"}: ${x.status}`).join("\n"));

    // Where each report went: one row per domain and rua (RFC 8460 §3 lists them), all sent;
    // the domain without a record gets none.
    assert.deepEqual(rows.map((x) => [x.policy_domain, x.rua, x.status]), [
      ["enforce.test", httpsRua, "sent"],
      ["enforce.test", RUA_MAIL, "sent"],
      ["expired.test", httpsRua, "sent"],
      ["no-rua.test", "", "no-record"],
      ["plain.test", httpsRua, "sent"],
      ["testing.test", RUA_MAIL, "sent"],
    ]);

    // The reports POSTed (RFC 8460 §5.4): gzip'd JSON, as application/tlsrpt+gzip.
    assert.equal(posted.length, 3, JSON.stringify(posted.map((p) => p.path)));
    const byPost: Record<string, TlsReport> = {};
    for (const p of posted) {
      assert.equal(p.path, HTTPS_PATH);
      assert.equal(p.type, "application/tlsrpt+gzip");
      const report = tlsReportSchema.parse(p.json);
      byPost[report.policies[0]!.policy["policy-domain"]] = report;
    }
    assert.deepEqual(Object.keys(byPost).sort(), ["enforce.test", "expired.test", "plain.test"]);

    // The reports mailed (RFC 8460 §5.3), read back from Dovecot over POP3 (implicit TLS) with
    // the relay's own client. Postfix hands them to Dovecot on its own time: bounded wait.
    for (let i = 0; i < 200 && await dovecot.count() < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const mails = await readMailbox(dovecot);
    assert.equal(mails.length, 2, "one report mail for enforce.test, one for testing.test");
    const byMail: Record<string, TlsReport> = {};
    for (const m of mails) {
      const report = tlsReportSchema.parse(m.json);
      const domain = report.policies[0]!.policy["policy-domain"];
      byMail[domain] = report;
      assert.equal(m.mail.headers.get("tls-report-domain"), domain);
      assert.equal(m.mail.headers.get("tls-report-submitter"), "relay.test");
      // RFC 8460 §5.1: sender!policy-domain!begin!end, the day in Unix seconds.
      const begin = DAY_START / 1000;
      assert.equal(m.fileName, `relay.test!${domain}!${begin}!${begin + 86_399}.json.gz`);
      // The path it took: the relay, then Postfix as reports.test's MX, then Dovecot's LMTP.
      const received = String(m.mail.headers.get("received") ?? "");
      assert.match(received, /with LMTP/i, received);
    }
    assert.deepEqual(Object.keys(byMail).sort(), ["enforce.test", "testing.test"]);
    // The same report for both of enforce.test's addresses.
    assert.deepEqual(byMail["enforce.test"], byPost["enforce.test"]);

    const reports = { ...byPost, ...byMail };
    for (const [domain, report] of Object.entries(reports)) {
      console.log(`${domain}: ${JSON.stringify(report.policies)}`);
      assert.equal(report["organization-name"], "Ferry E2E");
      assert.equal(report["contact-info"], "postmaster@relay.test");
      assert.equal(report["report-id"], `${DAY}.${domain}@relay.test`);
      assert.deepEqual(report["date-range"], {
        "start-datetime": `${DAY}T00:00:00Z`,
        "end-datetime": `${DAY}T23:59:59Z`,
      });
      assert.equal(report.policies.length, 1, `${domain}: one policy applied all day`);
    }

    // enforce.test: MTA-STS enforce, every session over TLS verified for the listed MX host.
    assert.deepEqual(reports["enforce.test"]!.policies[0], {
      policy: {
        "policy-type": "sts",
        "policy-string": linesOf(POLICY.enforce),
        "policy-domain": "enforce.test",
        "mx-host": [MX.enforce.name],
      },
      summary: {
        "total-successful-session-count": at("enforce").tls,
        "total-failure-session-count": 0,
      },
    });
    // expired.test: every session refused by the relay at the certificate, one kind of failure.
    assert.deepEqual(reports["expired.test"]!.policies[0], {
      policy: {
        "policy-type": "sts",
        "policy-string": linesOf(POLICY.expired),
        "policy-domain": "expired.test",
        "mx-host": [MX.expired.name],
      },
      summary: {
        "total-successful-session-count": 0,
        "total-failure-session-count": at("expired").tlsFailed,
      },
      "failure-details": [{
        "result-type": "certificate-expired",
        "receiving-mx-hostname": MX.expired.name,
        "receiving-ip": MX.expired.address,
        "failed-session-count": at("expired").tlsFailed,
        "failure-reason-code": "invalid peer certificate: certificate expired",
      }],
    });
    // testing.test: delivered to a host its policy does not list, each session a policy failure
    // (RFC 8461 §5: testing reports what enforce would have refused).
    assert.deepEqual(reports["testing.test"]!.policies[0], {
      policy: {
        "policy-type": "sts",
        "policy-string": linesOf(POLICY.testing),
        "policy-domain": "testing.test",
        "mx-host": ["mx.elsewhere.test"],
      },
      summary: {
        "total-successful-session-count": 0,
        "total-failure-session-count": at("testing").tls,
      },
      "failure-details": [{
        "result-type": "validation-failure",
        "receiving-mx-hostname": MX.testing.name,
        "receiving-ip": MX.testing.address,
        "failed-session-count": at("testing").tls,
        "failure-reason-code": "mx-host-mismatch",
      }],
    });
    // plain.test: no policy, no STARTTLS at its MX: delivered in the clear, which is a failure.
    assert.deepEqual(reports["plain.test"]!.policies[0], {
      policy: { "policy-type": "no-policy-found", "policy-domain": "plain.test" },
      summary: {
        "total-successful-session-count": 0,
        "total-failure-session-count": at("plain").plain,
      },
      "failure-details": [{
        "result-type": "starttls-not-supported",
        "receiving-mx-hostname": MX.plain.name,
        "receiving-ip": MX.plain.address,
        "failed-session-count": at("plain").plain,
      }],
    });
    console.log(
      `TLS-RPT from real deliveries: ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  },
});

/** Every message of the Dovecot mailbox, over POP3 with TLS, as report mails. */
async function readMailbox(
  dovecot: Awaited<ReturnType<typeof startDovecot>>,
): Promise<ReadReport[]> {
  const opened = await openPop3(
    { host: dovecot.host, port: dovecot.pop3sPort, tls: "implicit", caCerts: [dovecot.caCert] },
    { clock: new FakeClock() },
  );
  if (opened.kind !== "ok") throw new Error(`POP3: ${JSON.stringify(opened)}`);
  const pop = opened.value;
  try {
    assert.equal((await pop.login(dovecot.user, dovecot.password)).kind, "ok");
    const list = await pop.list();
    if (list.kind !== "ok") throw new Error(`POP3 LIST: ${JSON.stringify(list)}`);
    const mails: ReadReport[] = [];
    for (const entry of list.value) {
      const got = await pop.retr(entry.n);
      if (got.kind !== "ok") throw new Error(`POP3 RETR: ${JSON.stringify(got)}`);
      mails.push(await readReportMail(got.value));
    }
    return mails;
  } finally {
    await pop.quit();
  }
}
