/**
 * TLS reporting end to end (RFC 8460): TLS results recorded through the relay's sink during a day
 * for the policy domain `mx.test`, whose `_smtp._tls` record names `mailto:tlsrpt@mx.test`. At
 * `sendHour` the next day the relay writes the report into its own outbox, ingests it, signs it
 * with the From domain's DKIM key and delivers it over SMTP to a real Postfix, whose Maildir is
 * the rua mailbox: the mail there is a multipart/report whose gzip attachment decompresses to a
 * report that meets RFC 8460 §4.4, and its DKIM signature (covering the TLS-Report-* fields)
 * verifies. Time is the fake clock's; only Postfix runs in real time.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { generateKeyPairSync } from "node:crypto";
import { dkimVerify } from "mailauth/lib/dkim/verify.js";
import { tlsRptReportsOf } from "../../db/tls_rpt.ts";
import { dkimDnsRecord } from "../../relay/dkim/keys.ts";
import { reportProblem, type TlsReport } from "../../relay/tls_rpt/mod.ts";
import { FakeResolver } from "../_fakes/fake_resolver.ts";
import { hasPostfix, startPostfix } from "../_peers/postfix.ts";
import { requirePeer } from "../_support/peers.ts";
import { hasOpenssl, testPki } from "../relay/tls/_test_certs.ts";
import { readReportMail } from "../relay/tls_rpt/_report_mail.ts";
import { startTestRelay, T0 } from "./_relay.ts";

const DAY = new Date(T0).toISOString().slice(0, 10);
/** sendHour 1: 01:00 UTC the day after T0. */
const DUE = Date.parse(`${DAY}T00:00:00Z`) + 25 * 3_600_000;
const STS = ["version: STSv1", "mode: enforce", "mx: mx.test", "max_age: 604800"];

Deno.test({
  name: "a day's TLS report is mailed by the relay itself into the policy domain's rua mailbox",
  ignore: requirePeer("postfix", !hasPostfix || !hasOpenssl),
  sanitizeResources: false, // Postfix's sockets
  sanitizeOps: false,
  async fn() {
    const pki = await testPki();
    await using postfix = await startPostfix({
      tls: { certFile: pki.certFile, keyFile: pki.keyFile },
    });
    const privateKey = generateKeyPairSync("ed25519").privateKey
      .export({ type: "pkcs8", format: "pem" }).toString();
    const resolver = new FakeResolver({
      "_smtp._tls.mx.test": { txt: ["v=spf1 -all", "v=TLSRPTv1; rua=mailto:tlsrpt@mx.test"] },
    });
    await using r = await startTestRelay({
      routes: `mx.test=127.0.0.1:${postfix.port}`,
      deps: { resolver },
      config: {
        dkim: [{ domain: "relay.test", selector: "s1", algorithm: "ed25519-sha256", privateKey }],
        tlsReports: {
          organizationName: "Ferry E2E",
          contact: "postmaster@relay.test",
          from: "TLS reports <tlsrpt@relay.test>",
          sendHour: 1,
        },
      },
    });

    // The day's sessions with mx.test's MX, as the SMTP deliverer reports them.
    for (let i = 0; i < 7; i++) {
      r.tlsResults.record({
        domain: "mx.test",
        policy: { type: "sts", strings: STS },
        outcome: "success",
        at: r.clock.now() + i * 60_000,
      });
    }
    r.tlsResults.record({
      domain: "mx.test",
      policy: { type: "sts", strings: STS },
      outcome: {
        failure: "certificate-not-trusted",
        receivingMxHostname: "mx.test",
        receivingIp: "127.0.0.1",
        failureReasonCode: "UnknownIssuer",
      },
      at: r.clock.now(),
    });

    // Nothing until 01:00 the next day; then the report is written and queued.
    const reports = () => tlsRptReportsOf(r.t.db, DAY, "mx.test");
    await r.pumpUntil(
      async () => (await reports()).length > 0,
      "the report in the outbox",
      15 * 60_000,
      200,
    );
    assert.ok(r.clock.now() >= DUE, "not before sendHour");
    const [row] = await reports();
    assert.equal(row!.status, "sent");
    await r.pumpUntil(
      async () => (await r.statuses())["tlsrpt@mx.test"] === "delivered",
      "the report mail delivered",
    );

    const [bytes] = await postfix.delivered(1);
    const read = await readReportMail(bytes!);
    assert.equal(reportProblem(read.json), undefined);
    const report = read.json as TlsReport;
    assert.equal(report["organization-name"], "Ferry E2E");
    assert.equal(report["report-id"], `${DAY}.mx.test@relay.test`);
    assert.deepEqual(report.policies.map((p) => [p.policy, p.summary]), [[
      {
        "policy-type": "sts",
        "policy-string": STS,
        "policy-domain": "mx.test",
        "mx-host": ["mx.test"],
      },
      { "total-successful-session-count": 7, "total-failure-session-count": 1 },
    ]]);
    assert.deepEqual(report.policies[0]!["failure-details"], [{
      "result-type": "certificate-not-trusted",
      "receiving-mx-hostname": "mx.test",
      "receiving-ip": "127.0.0.1",
      "failed-session-count": 1,
      "failure-reason-code": "UnknownIssuer",
    }]);
    assert.equal(read.mail.headers.get("tls-report-domain"), "mx.test");
    assert.equal(read.mail.headers.get("tls-report-submitter"), "relay.test");
    assert.match(read.fileName, /^relay\.test!mx\.test!\d+!\d+\.json\.gz$/);

    // Signed by relay.test, the report's own fields covered (RFC 8460 §3, §5.3).
    const record = dkimDnsRecord(privateKey);
    const verified = await dkimVerify(Buffer.from(bytes!), {
      resolver: (name: string) =>
        name === "s1._domainkey.relay.test"
          ? Promise.resolve([[record]])
          : Promise.reject(Object.assign(new Error("ENOTFOUND"), { code: "ENOTFOUND" })),
      curTime: new Date(r.clock.now()),
    });
    assert.deepEqual(
      verified.results.map((v) => [v.status.result, v.signingDomain]),
      [["pass", "relay.test"]],
    );
    // Maildir keeps LF line ends: unfold either way.
    const head = new TextDecoder().decode(bytes!).replace(/\r\n/g, "\n").split("\n\n")[0]!
      .replace(/\n[ \t]+/g, " ");
    const h = /^DKIM-Signature:.*\bh=([^;]+)/mi.exec(head)![1]!.toLowerCase().replace(/\s/g, "");
    assert.ok(h.split(":").includes("tls-report-domain"), h);
    assert.ok(h.split(":").includes("tls-report-submitter"), h);
  },
});
