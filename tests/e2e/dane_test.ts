/**
 * DANE for SMTP (RFC 7672) end to end, every component real and on loopback: the relay's
 * resolver is a WireResolver asking for DNSSEC (the DO bit) from a local DNS server that plays a
 * signed zone seen through a validating resolver (the AD bit on the names listed as secure; a
 * loopback server's AD bit is believed, RFC 7672 §2.1.3), and one private Postfix plays the MX
 * hosts, each on its own loopback address and the relay's MX port, with its own certificate: a
 * self-signed one naming nothing of ours, one the test CA signed that expired in 2020, one the
 * test CA signed for its MX name (sent with the CA, as DANE-TA needs, RFC 7671 §5.2.2), and one
 * that offers no STARTTLS.
 *
 * One recipient domain per case, each ending as RFC 7672 §2.2 requires, with the reason in
 * `ferry.deliveries`, the decision in `ferry.events.tls_detail` (deferrals included), every
 * connection attempt's TLS result as the deliverer reports it (RFC 8460 result types) and in
 * `ferry_tls_results_total`; then the relay's retries, once the zone is mended, deliver the
 * deferred mail under DANE.
 *
 * Time is the relay's fake clock, started at the real present: DANE-TA checks validity periods
 * against the relay's clock (RFC 7672 §3.1.2), and the test CA's certificates are valid for two
 * days from now. Only Postfix and DNS run in real time.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { freePort, hasPostfix, startPostfix } from "../_peers/postfix.ts";
import { requirePeer } from "../_support/peers.ts";
import { testDatabase } from "../_support/db.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";
import { DnsServer, type ZoneEntry } from "../_fakes/dns_server.ts";
import { hasOpenssl, type Leaf, testCa } from "../relay/mta_sts/_pki.ts";
import { policyFile } from "../relay/mta_sts/_fakes.ts";
import { tlsaFor } from "../relay/dane/_records.ts";
import { parsePrometheus } from "../relay/metrics/_prometheus.ts";
import { CachingResolver, tlsaName, type TlsaRecord, WireResolver } from "../../relay/dns/mod.ts";
import type { FetchPolicy, Parsed } from "../../relay/mta_sts/mod.ts";
import type { TlsReport } from "../../relay/adapters/smtp_deliverer.ts";
import { enqueue, startTestRelay, type TestRelay } from "./_relay.ts";

/** The MX hosts' names, and the loopback address (Postfix listener) each resolves to. */
const SELF_SIGNED = "mx.self-signed.test";
const EXPIRED = "mx.expired.test";
const TA = "mx.ta.test";
const NO_TLS = "mx.no-tls.test";
/** The self-signed host again, under names whose TLSA records do not match or cannot be read. */
const MISMATCH = "mx.mismatch.test";
const SERVFAIL = "mx.servfail.test";
/** A host an MTA-STS policy lists that no MX record names. */
const ELSEWHERE = "mx.elsewhere.test";

const ADDRESS: Record<string, string> = {
  [SELF_SIGNED]: "127.0.0.21",
  [EXPIRED]: "127.0.0.22",
  [TA]: "127.0.0.23",
  [NO_TLS]: "127.0.0.24",
  [MISMATCH]: "127.0.0.21",
  [SERVFAIL]: "127.0.0.21",
};

interface Case {
  /** The domain's one MX host. */
  readonly mx: string;
  /** Whether the MX answer is DNSSEC-secure (the AD bit). Every host's own names are. */
  readonly secure: boolean;
  /** An MTA-STS policy (its `_mta-sts` TXT record id is "1"). */
  readonly sts?: string;
}

/**
 * The matrix. `insecure.test` shares its MX host with `mismatch.test`, as domains hosted together
 * do: the relay may group their mail by MX host, and each must still get its own DANE decision.
 */
const CASES: Record<string, Case> = {
  "dane-ee.test": { mx: SELF_SIGNED, secure: true },
  "dane-ee-expired.test": { mx: EXPIRED, secure: true },
  "mismatch.test": { mx: MISMATCH, secure: true },
  "dane-ta.test": { mx: TA, secure: true },
  "servfail.test": { mx: SERVFAIL, secure: true },
  "insecure.test": { mx: MISMATCH, secure: false },
  "stripped.test": { mx: NO_TLS, secure: true },
  "precedence.test": {
    mx: SELF_SIGNED,
    secure: true,
    sts: policyFile("enforce", 604800, ELSEWHERE),
  },
  // The control: the same policy without DANE (an insecure MX answer) keeps the mail back.
  "sts-only.test": {
    mx: SELF_SIGNED,
    secure: false,
    sts: policyFile("enforce", 604800, ELSEWHERE),
  },
};

const LOCAL = "refused by Ferry, not by the receiver:";

/** A self-signed certificate for `cn` (no subjectAltName), as files for Postfix. */
async function selfSigned(cn: string): Promise<Leaf> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-dane-e2e-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const [certFile, keyFile] = [`${dir}/cert.pem`, `${dir}/key.pem`];
  const out = await new Deno.Command("openssl", {
    args: ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
      .concat(["-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", `/CN=${cn}`]),
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `Cannot make a self-signed certificate: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return {
    certFile,
    keyFile,
    certPem: await Deno.readTextFile(certFile),
    keyPem: await Deno.readTextFile(keyFile),
  };
}

/** `leaf` followed by its issuer, as one file: the chain a DANE-TA server must send. */
async function withIssuer(leaf: Leaf, issuerPem: string): Promise<Leaf> {
  const certFile = `${leaf.certFile}.chain.pem`;
  await Deno.writeTextFile(certFile, leaf.certPem + issuerPem, { mode: 0o600 });
  return { ...leaf, certFile };
}

function der(pem: string): Uint8Array {
  return new Uint8Array(new X509Certificate(pem).raw);
}

interface Row {
  readonly status: string;
  readonly last_code: number | null;
  readonly last_reply: string | null;
  readonly mx_host: string | null;
  readonly attempts: number;
}

async function rows(r: TestRelay): Promise<Record<string, Row>> {
  const found = await r.t.db.selectFrom("ferry.deliveries")
    .select(["recipient", "status", "last_code", "last_reply", "mx_host", "attempts"])
    .orderBy("id").execute();
  return Object.fromEntries(found.map((d) => [d.recipient.split("@")[1]!, d]));
}

interface LastEvent {
  readonly kind: string;
  readonly code: number | null;
  readonly reply: string | null;
  readonly tls: boolean | null;
  readonly tlsDetail: Record<string, unknown> | null;
}

/** Each domain's latest event. */
async function lastEvents(r: TestRelay): Promise<Record<string, LastEvent>> {
  const found = await r.t.db.selectFrom("ferry.events")
    .innerJoin("ferry.deliveries", "ferry.deliveries.id", "ferry.events.delivery_id")
    .select([
      "ferry.deliveries.recipient",
      "ferry.events.kind",
      "ferry.events.code",
      "ferry.events.reply",
      "ferry.events.tls",
      "ferry.events.tls_detail",
    ])
    .orderBy("ferry.events.id").execute();
  return Object.fromEntries(
    found.map((e) => [e.recipient.split("@")[1]!, {
      kind: e.kind,
      code: e.code,
      reply: e.reply,
      tls: e.tls,
      tlsDetail: e.tls_detail as Record<string, unknown> | null,
    }]),
  );
}

Deno.test({
  name: "DANE end to end: DANE-EE, DANE-TA, mismatch, SERVFAIL, insecure MX, no STARTTLS, MTA-STS",
  ignore: requirePeer("postfix+openssl", !hasPostfix || !hasOpenssl),
  sanitizeResources: false, // Postfix's sockets
  sanitizeOps: false,
  async fn(t) {
    const started = performance.now();
    const ca = await testCa();
    const selfSignedCert = await selfSigned("not-an-mx.invalid");
    const expiredCert = await ca.expiredLeaf([EXPIRED]);
    const taCert = await withIssuer(await ca.leaf([TA]), ca.caPem);

    const domains = Object.keys(CASES);
    const port = freePort();
    await using postfix = await startPostfix({
      domains,
      listeners: [
        { name: "selfsigned", hostname: ADDRESS[SELF_SIGNED]!, port, tls: selfSignedCert },
        { name: "expired", hostname: ADDRESS[EXPIRED]!, port, tls: expiredCert },
        { name: "ta", hostname: ADDRESS[TA]!, port, tls: taCert },
        { name: "notls", hostname: ADDRESS[NO_TLS]!, port, tls: null },
      ],
    });

    const tlsa = (host: string) => tlsaName(host, port);
    const records: Record<string, readonly TlsaRecord[]> = {
      // DANE-EE: the key of a certificate that names none of ours, or expired long ago.
      [SELF_SIGNED]: [tlsaFor(3, 1, 1, der(selfSignedCert.certPem))],
      [EXPIRED]: [tlsaFor(3, 1, 1, der(expiredCert.certPem))],
      // Another certificate's key: the self-signed host behind this name does not match it.
      [MISMATCH]: [tlsaFor(3, 1, 1, der(taCert.certPem))],
      // DANE-TA: the test CA's whole certificate, by digest.
      [TA]: [tlsaFor(2, 0, 1, der(ca.caPem))],
      [NO_TLS]: [tlsaFor(3, 1, 1, der(selfSignedCert.certPem))],
      [SERVFAIL]: [tlsaFor(3, 1, 1, der(selfSignedCert.certPem))],
    };
    const zone: Record<string, ZoneEntry> = {};
    const ad: string[] = [];
    for (const [host, address] of Object.entries(ADDRESS)) {
      zone[host] = { a: [address] };
      zone[tlsa(host)] = { tlsa: records[host]! };
      ad.push(host, tlsa(host));
    }
    for (const [domain, c] of Object.entries(CASES)) {
      zone[domain] = { mx: [{ preference: 10, exchange: c.mx }] };
      if (c.secure) ad.push(domain);
      if (c.sts) zone[`_mta-sts.${domain}`] = { txt: ["v=STSv1; id=1;"] };
    }
    // A validating resolver answers SERVFAIL for a lookup it cannot complete or validate
    // (RFC 4035 §5.5); mutable, so the zone can be mended for the retries.
    const servfail = [tlsa(SERVFAIL)];
    await using dns = await DnsServer.start({ zone, ttl: 60, ad, servfail });

    const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
    const resolver = new CachingResolver(
      new WireResolver({ clock, nameServers: [dns.nameServer], attempts: 1, dnssec: true }),
      { clock },
    );
    // The policy files, without HTTPS (tests/e2e/mta_sts_test.ts runs the real fetcher).
    const fetched: string[] = [];
    const fetchMtaStsPolicy: FetchPolicy = (domain) => {
      fetched.push(domain);
      const file = CASES[domain]?.sts;
      const got: Parsed<string> = file === undefined
        ? { ok: false, reason: `no policy for ${domain}` }
        : { ok: true, value: file };
      return Promise.resolve(got);
    };
    const reports: TlsReport[] = [];
    await using db = await testDatabase();
    await using r = await startTestRelay({
      routes: "",
      config: { delivery: { caFile: ca.caFile } },
      database: db,
      clock,
      operations: true,
      deps: { resolver, mxPort: port, fetchMtaStsPolicy, onTls: (report) => reports.push(report) },
    });
    const subjects = async (count: number) =>
      (await postfix.delivered(count)).map((m) =>
        new TextDecoder().decode(m).match(/^Subject: (.*)$/m)?.[1]
      ).sort();
    const resultsOf = (domain: string) => [
      ...new Set(reports.filter((x) => x.domain === domain).map((x) => x.result)),
    ];
    const scrape = async () => parsePrometheus(await (await r.ops!.app.request("/metrics")).text());

    try {
      await t.step("each case ends as RFC 7672 §2.2 says", async () => {
        for (const domain of domains) await enqueue(r, { to: [`user@${domain}`], subject: domain });
        await r.pumpUntil(
          async () => {
            const now = await rows(r);
            return domains.every((d) => ["delivered", "deferred"].includes(now[d]?.status ?? ""));
          },
          "every mail delivered or deferred",
          250,
          400,
        );
        const now = await rows(r);
        const events = await lastEvents(r);
        const report = (d: string) =>
          `${d}: ${JSON.stringify(now[d])} ${JSON.stringify(events[d])} TLS reports: ${
            JSON.stringify(reports.filter((x) => x.domain === d).map((x) => x.result))
          }`;
        console.log(domains.map(report).join("\n"));

        // Delivered under DANE: DANE-EE ignores names and dates (RFC 7672 §3.1.1), DANE-TA
        // checks them against the anchor the server sent (§3.1.2, §3.2.3); TLSA records take
        // precedence over an MTA-STS policy that lists none of the MX hosts (RFC 8461 §2).
        for (
          const [d, mx] of [
            ["dane-ee.test", SELF_SIGNED],
            ["dane-ee-expired.test", EXPIRED],
            ["dane-ta.test", TA],
            ["precedence.test", SELF_SIGNED],
          ] as const
        ) {
          assert.equal(now[d]?.status, "delivered", report(d));
          assert.equal(now[d]?.last_code, 250, report(d));
          assert.equal(now[d]?.mx_host, mx, report(d));
          assert.equal(events[d]?.kind, "delivered", report(d));
          assert.equal(events[d]?.tls, true, report(d));
          assert.deepEqual(events[d]?.tlsDetail, {
            policy: "dane",
            reason: `DNSSEC-secure TLSA records at ${tlsa(mx)}`,
            tls: true,
            verified: true,
          }, report(d));
          assert.deepEqual(resultsOf(d), ["success"], report(d));
          for (const x of reports.filter((x) => x.domain === d)) {
            assert.equal(x.applied.kind, "dane", report(d));
            assert.equal(x.tlsPolicy, "verified", report(d));
            assert.equal(x.verified, true, report(d));
          }
        }
        // The same policy where DANE does not apply: enforced, so it was there to override.
        assert.equal(now["sts-only.test"]?.status, "deferred", report("sts-only.test"));
        assert.equal(
          now["sts-only.test"]?.last_reply,
          `451 4.7.5 ${LOCAL} the MTA-STS policy of sts-only.test (enforce) lists none of its MX hosts: ${SELF_SIGNED} not in ${ELSEWHERE}`,
        );
        assert.ok(fetched.includes("sts-only.test"), JSON.stringify(fetched));

        // An insecure MX answer: TLSA records found through it prove nothing (RFC 7672 §2.2.1),
        // so the records at mx.mismatch.test, which its certificate does not match, are not
        // applied: the ordinary opportunistic policy delivers over unauthenticated TLS.
        assert.equal(now["insecure.test"]?.status, "delivered", report("insecure.test"));
        assert.equal(now["insecure.test"]?.mx_host, MISMATCH, report("insecure.test"));
        assert.deepEqual(events["insecure.test"]?.tlsDetail, {
          policy: "opportunistic",
          reason: "the destination's TLS policy (opportunistic)",
          tls: true,
          verified: false,
        }, report("insecure.test"));
        assert.deepEqual(resultsOf("insecure.test"), ["success"]);
        assert.ok(
          reports.filter((x) => x.domain === "insecure.test").every((x) =>
            x.applied.kind === "none"
          ),
        );

        // TLSA records the server does not match: the verified handshake fails, nothing sent.
        assert.equal(now["mismatch.test"]?.status, "deferred", report("mismatch.test"));
        assert.equal(now["mismatch.test"]?.last_code, 451);
        assert.match(
          now["mismatch.test"]!.last_reply!,
          new RegExp(
            `^451 4\\.7\\.5 TLS handshake with ${MISMATCH} failed: .*DANE authentication failed: 3 1 1 `,
          ),
        );
        assert.equal(now["mismatch.test"]?.mx_host, MISMATCH);
        assert.deepEqual(resultsOf("mismatch.test"), ["tlsa-invalid"]);

        // The TLSA lookup failed under a secure MX: records may exist, so the host is not used,
        // not even over unauthenticated TLS (RFC 7672 §2.2); no connection is opened.
        assert.equal(now["servfail.test"]?.status, "deferred", report("servfail.test"));
        assert.equal(now["servfail.test"]?.last_code, 451);
        assert.match(
          now["servfail.test"]!.last_reply!,
          new RegExp(
            `^451 4\\.7\\.5 ${LOCAL} DANE: ${SERVFAIL}: TLSA lookup of ${
              tlsa(SERVFAIL).replaceAll(".", "\\.")
            } failed, so DANE cannot be ruled out \\(RFC 7672 §2\\.2\\): .*SERVFAIL`,
          ),
        );
        // Ferry's own refusal: no receiving host said it (the reply names the host).
        assert.equal(now["servfail.test"]?.mx_host, null);
        assert.deepEqual(resultsOf("servfail.test"), ["dnssec-invalid"]);

        // TLSA records and no STARTTLS: a downgrade, refused (RFC 7672 §2.2).
        assert.equal(now["stripped.test"]?.status, "deferred", report("stripped.test"));
        assert.equal(now["stripped.test"]?.last_code, 451);
        assert.equal(
          now["stripped.test"]?.last_reply,
          `451 4.7.4 TLS is required (policy 'verified') but ${NO_TLS} does not offer STARTTLS`,
        );
        assert.deepEqual(resultsOf("stripped.test"), ["starttls-not-supported"]);

        // Each deferral records the DANE decision it refused the host under.
        const refusedUnder: Record<string, string> = {
          "mismatch.test": `DNSSEC-secure TLSA records at ${tlsa(MISMATCH)}`,
          "servfail.test": `TLSA lookup of ${tlsa(SERVFAIL)} failed, so DANE cannot be ruled out`,
          "stripped.test": `DNSSEC-secure TLSA records at ${tlsa(NO_TLS)}`,
        };
        for (const [d, reason] of Object.entries(refusedUnder)) {
          assert.equal(events[d]?.kind, "deferred", report(d));
          assert.equal(events[d]?.code, 451, report(d));
          assert.equal(events[d]?.reply, now[d]?.last_reply, report(d));
          assert.equal(events[d]?.tls, null, report(d));
          assert.deepEqual(
            { ...events[d]?.tlsDetail, reason: undefined },
            { policy: "dane", reason: undefined, tls: false, verified: false },
            report(d),
          );
          assert.ok(String(events[d]?.tlsDetail?.reason).startsWith(reason), report(d));
          assert.ok(
            reports.filter((x) => x.domain === d).every((x) => x.applied.kind === "dane"),
            report(d),
          );
        }

        assert.deepEqual(await subjects(5), [
          "dane-ee-expired.test",
          "dane-ee.test",
          "dane-ta.test",
          "insecure.test",
          "precedence.test",
        ]);
        // The host without STARTTLS was reached and never given a transaction.
        const plain = (await postfix.log()).split("\n").filter((l) =>
          l.includes("postfix/notls/smtpd") && /disconnect from .* ehlo=/.test(l)
        );
        for (const line of plain) assert.doesNotMatch(line, /mail=|rcpt=|data=/, line);

        // The counter shows every result the deliverer reported, by policy and type.
        const m = await scrape();
        const counted = new Map<string, number>();
        for (const x of reports) {
          const key = `ferry_tls_results_total{policy="${x.applied.kind}",result="${x.result}"}`;
          counted.set(key, (counted.get(key) ?? 0) + 1);
        }
        console.log([...m].filter(([k]) => k.startsWith("ferry_tls_results_total")).join("\n"));
        for (const [key, n] of counted) assert.equal(m.get(key), n, key);
        for (
          const result of ["success", "tlsa-invalid", "dnssec-invalid", "starttls-not-supported"]
        ) {
          assert.ok(
            (m.get(`ferry_tls_results_total{policy="dane",result="${result}"}`) ?? 0) >= 1,
            result,
          );
        }
        assert.ok((m.get(`ferry_tls_results_total{policy="none",result="success"}`) ?? 0) >= 1);
      });

      await t.step("once the zone is mended, the retries deliver under DANE", async () => {
        servfail.length = 0;
        zone[tlsa(MISMATCH)] = { tlsa: [tlsaFor(3, 1, 1, der(selfSignedCert.certPem))] };
        await r.pumpUntil(
          async () => {
            const now = await rows(r);
            return ["mismatch.test", "servfail.test"].every((d) =>
              now[d]?.status === "delivered"
            ) && now["stripped.test"]?.attempts === 2;
          },
          "the mended domains delivered, the one without STARTTLS tried again",
          5_000,
          200,
        );
        const now = await rows(r);
        const events = await lastEvents(r);
        for (const [d, mx] of [["mismatch.test", MISMATCH], ["servfail.test", SERVFAIL]]) {
          console.log(`${d} on retry: ${JSON.stringify(now[d!])}`);
          assert.equal(now[d!]?.last_code, 250);
          assert.equal(now[d!]?.mx_host, mx);
          assert.deepEqual(events[d!]?.tlsDetail, {
            policy: "dane",
            reason: `DNSSEC-secure TLSA records at ${tlsa(mx!)}`,
            tls: true,
            verified: true,
          });
        }
        assert.equal(now["stripped.test"]?.status, "deferred");
        assert.equal((await subjects(7)).length, 7);
      });
    } finally {
      console.log(`DANE matrix: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  },
});
