/**
 * SmtpDeliverer with DANE (RFC 7672), against npm smtp-server: when DANE refuses a host (a TLSA
 * lookup that failed, no STARTTLS, a certificate that does not match), the failed connect says
 * so in the reply, in its TLS report, and in the `tlsDetail` the deferral records, as a session's
 * events would; an insecure MX answer takes no TLSA records at all.
 */
import assert from "node:assert/strict";
import type { ConnectResult } from "../../../actors/ports.ts";
import { SmtpDeliverer, type TlsReport } from "../../../relay/adapters/smtp_deliverer.ts";
import { MessageSource } from "../../../relay/adapters/message_source.ts";
import { createRouter, tlsaName, type TlsaRecord } from "../../../relay/dns/mod.ts";
import { denoConnect } from "../../../relay/smtp/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import { freePort } from "../../_support/postgres_cluster.ts";
import { requirePeer } from "../../_support/peers.ts";
import { startSmtpServer } from "../smtp/_smtp_server.ts";
import { danePki, hasOpenssl } from "../dane/_pki.ts";
import { tlsaFor } from "../dane/_records.ts";

const DOMAIN = "example.test";
const MX = "mx.example.test";

/** A deliverer for `example.test`, its MX on `port`, with DANE through `resolver`. */
function setUp(port: number, tlsa: readonly TlsaRecord[], secureMx = true) {
  const resolver = new FakeResolver({
    [DOMAIN]: { mx: [{ preference: 10, exchange: MX }], secure: secureMx },
    [MX]: { a: ["127.0.0.1"], secure: true },
    [tlsaName(MX, port)]: { tlsa, secure: true },
  });
  // The test certificates carry real dates; this clock only reads the present.
  const clock = new FakeClock(Date.now());
  const reports: TlsReport[] = [];
  const connects: string[] = [];
  const deliverer = new SmtpDeliverer({
    clock,
    router: createRouter({ resolver, random: () => 0.5, port, addressOrder: "ipv4-only" }),
    messages: new MessageSource({
      load: () => Promise.reject(new Error("no message is sent by these tests")),
      clock,
      messageIdDomain: "relay.test",
    }),
    heloName: "relay.test",
    tlsPolicy: () => "opportunistic",
    dane: { resolver },
    onTls: (r) => reports.push(r),
    connect: (address, p, signal) => {
      connects.push(`${address}:${p}`);
      return denoConnect(address, p, signal);
    },
  });
  return { deliverer, resolver, reports, connects };
}

async function failedConnect(
  d: SmtpDeliverer,
): Promise<Extract<ConnectResult, { kind: "failed" }>> {
  const r = await d.connect(DOMAIN, new AbortController().signal);
  if (r.kind === "connected") {
    await r.session.close();
    assert.fail("connected, but DANE should have refused the host");
  }
  return r;
}

Deno.test("SmtpDeliverer with DANE: a failed TLSA lookup defers without connecting, and the deferral carries the decision", async () => {
  await using s = await startSmtpServer();
  const { deliverer, resolver, reports, connects } = setUp(s.port, []);
  resolver.fail(tlsaName(MX, s.port), "error", "TLSA");
  const r = await failedConnect(deliverer);
  assert.equal(r.result.kind, "transient");
  assert.equal(r.result.enhanced, "4.7.5");
  assert.match(r.result.reply, /^451 4\.7\.5 refused by Ferry, not by the receiver: DANE: /);
  assert.equal(r.mxHost, MX);
  assert.equal(r.tlsDetail?.policy, "dane");
  assert.match(r.tlsDetail?.reason ?? "", /TLSA lookup of _\d+\._tcp\.mx\.example\.test failed/);
  assert.equal(r.tlsDetail?.tls, false);
  assert.equal(r.tlsDetail?.verified, false);
  assert.deepEqual(reports.map((x) => x.result), ["dnssec-invalid"]);
  assert.deepEqual(connects, [], "RFC 7672 §2.2: the host is not used at all");
});

Deno.test("SmtpDeliverer with DANE: TLSA records and no STARTTLS: refused, with the decision", async () => {
  await using s = await startSmtpServer(); // STARTTLS disabled
  const { deliverer, reports } = setUp(s.port, [{
    usage: 3,
    selector: 1,
    matchingType: 1,
    data: new Uint8Array(32),
  }]);
  const r = await failedConnect(deliverer);
  assert.equal(r.result.kind, "transient");
  assert.equal(r.result.enhanced, "4.7.4");
  assert.deepEqual(r.tlsDetail, {
    policy: "dane",
    reason: `DNSSEC-secure TLSA records at ${tlsaName(MX, s.port)}`,
    tls: false,
    verified: false,
  });
  assert.deepEqual(reports.map((x) => [x.applied.kind, x.result]), [
    ["dane", "starttls-not-supported"],
  ]);
  assert.deepEqual(s.messages, []);
});

Deno.test({
  name:
    "SmtpDeliverer with DANE: a certificate that matches no record: tlsa-invalid, with the decision",
  ignore: requirePeer("openssl", !hasOpenssl),
  async fn() {
    const pki = await danePki();
    await using s = await startSmtpServer({
      key: pki.leaf.keyPem,
      cert: pki.leaf.pem + pki.intermediate.pem,
      disabledCommands: [],
    });
    const { deliverer, reports } = setUp(s.port, [tlsaFor(3, 1, 1, pki.otherName.der)]);
    const r = await failedConnect(deliverer);
    assert.equal(r.result.enhanced, "4.7.5");
    assert.match(r.result.reply, /DANE authentication failed: 3 1 1 /);
    assert.equal(r.tlsDetail?.policy, "dane");
    assert.equal(r.tlsDetail?.verified, false);
    assert.deepEqual(reports.map((x) => x.result), ["tlsa-invalid"]);
    assert.deepEqual(s.messages, []);
  },
});

Deno.test("SmtpDeliverer with DANE: an insecure MX answer looks up no TLSA records", async () => {
  await using s = await startSmtpServer();
  const { deliverer, resolver, reports } = setUp(s.port, [], false);
  const r = await deliverer.connect(DOMAIN, new AbortController().signal);
  assert.equal(r.kind, "connected");
  if (r.kind === "connected") {
    assert.equal(r.session.tlsDetail?.policy, "opportunistic");
    await r.session.close();
  }
  assert.equal(resolver.count(tlsaName(MX, s.port), "TLSA"), 0);
  assert.deepEqual(reports.map((x) => [x.applied.kind, x.result]), [["none", "success"]]);
});

Deno.test("SmtpDeliverer with DANE: a host that refuses the connection leaves no TLS decision", async () => {
  const { deliverer, reports } = setUp(freePort(), [{
    usage: 3,
    selector: 1,
    matchingType: 1,
    data: new Uint8Array(32),
  }]);
  const r = await failedConnect(deliverer);
  assert.equal(r.result.kind, "transient");
  assert.equal(r.tlsDetail, undefined, "TLS is not why it failed");
  assert.deepEqual(reports, []);
});
