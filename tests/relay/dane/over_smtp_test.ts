/**
 * The whole DANE path as the deliverer is to call it, end to end on loopback: a signed zone
 * served with the AD bit -> WireResolver (dnssec) -> planRoute -> daneForHost -> connectSmtp with
 * daneStartTls, against npm smtp-server presenting the test chain over STARTTLS.
 */
import assert from "node:assert/strict";
import { daneForHost, daneStartTls } from "../../../relay/dane/mod.ts";
import { createRouter, type TlsaRecord, WireResolver } from "../../../relay/dns/mod.ts";
import { connectSmtp } from "../../../relay/smtp/mod.ts";
import { BrokenTlsPeers } from "../../../relay/tls/mod.ts";
import { DnsServer } from "../../_fakes/dns_server.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { only, simpleMessage, testOptions } from "../smtp/_helpers.ts";
import { startSmtpServer } from "../smtp/_smtp_server.ts";
import { danePki, hasOpenssl } from "./_pki.ts";
import { tlsaFor } from "./_records.ts";
import { requirePeer } from "../../_support/peers.ts";

const ignore = requirePeer("openssl", !hasOpenssl);
const DOMAIN = "example.test";
const MX = "mx.example.test";
const envelope = {
  mailFrom: "sender@ferry.test",
  recipients: ["rcpt@example.test"],
  message: simpleMessage(),
};

/** Routes `example.test` to smtp-server on its port, with `tlsa` at the port's TLSA name. */
async function deliverWith(tlsa: readonly TlsaRecord[], brokenTls?: BrokenTlsPeers) {
  const pki = await danePki();
  await using smtp = await startSmtpServer({
    key: pki.leaf.keyPem,
    cert: pki.leaf.pem + pki.intermediate.pem,
    disabledCommands: [],
  });
  const tlsaName = `_${smtp.port}._tcp.${MX}`;
  await using dns = await DnsServer.start({
    zone: {
      [DOMAIN]: { mx: [{ preference: 10, exchange: MX }] },
      [MX]: { a: ["127.0.0.1"] },
      [tlsaName]: { tlsa },
    },
    ad: [DOMAIN, MX, tlsaName],
  });
  // The certificates carry real dates; this clock only reads the present.
  const clock = new FakeClock(Date.now());
  const resolver = new WireResolver({ clock, nameServers: [dns.nameServer], dnssec: true });
  const router = createRouter({ resolver, random: () => 0, port: smtp.port });

  // 1. Route, with DNSSEC status. 2. DANE for the host. 3. Connect with the DANE upgrade.
  const plan = await router.planRoute(DOMAIN);
  assert.equal(plan.kind, "hosts");
  if (plan.kind !== "hosts") return assert.fail();
  const host = plan.hosts[0]!;
  const dane = await daneForHost(resolver, DOMAIN, plan, host);
  assert.equal(dane.kind, "dane", JSON.stringify(dane));
  if (dane.kind !== "dane") return assert.fail();
  const options = testOptions({
    peerName: host.name,
    tlsPolicy: "verified",
    startTls: daneStartTls({
      records: dane.records,
      referenceNames: dane.referenceNames,
      serverName: dane.serverName,
      clock,
    }),
    ...(brokenTls ? { brokenTls } : {}),
  });
  const opened = await connectSmtp(host.addresses[0]!, host.port, options);
  const result = opened.kind === "ready"
    ? {
      kind: "ready" as const,
      outcome: only(await opened.session.send(envelope)),
      tls: opened.session.tls,
    }
    : { kind: "failed" as const, failure: opened.failure };
  if (opened.kind === "ready") await opened.session.quit();
  return { result, transcript: options.transcript, received: [...smtp.messages] };
}

Deno.test({
  name: "DANE end to end: a matching DANE-EE record delivers over authenticated TLS",
  ignore,
  async fn() {
    const { leaf } = await danePki();
    const { result, transcript, received } = await deliverWith([tlsaFor(3, 1, 1, leaf.der)]);
    assert.equal(result.kind, "ready");
    assert.equal(result.kind === "ready" && result.outcome.kind, "delivered");
    assert.equal(result.kind === "ready" && result.tls, true);
    assert.equal(received[0]?.secure, true);
    assert.ok(
      transcript.some((e) => e.direction === "note" && /TLS established \(verified\)/.test(e.line)),
    );
  },
});

Deno.test({
  name: "DANE end to end: a DANE-TA record for the intermediate delivers too",
  ignore,
  async fn() {
    const { intermediate } = await danePki();
    const { result } = await deliverWith([tlsaFor(2, 1, 1, intermediate.der)]);
    assert.equal(result.kind === "ready" && result.outcome.kind, "delivered");
  },
});

Deno.test({
  name:
    "DANE end to end: a mismatch fails the session as a transient 4.7.5, nothing sent, not remembered as broken",
  ignore,
  async fn() {
    const { otherName } = await danePki();
    const memory = new BrokenTlsPeers({ clock: new FakeClock() });
    const { result, received } = await deliverWith([tlsaFor(3, 1, 1, otherName.der)], memory);
    assert.equal(result.kind, "failed");
    const failure = result.kind === "failed" ? result.failure : undefined;
    assert.equal(failure?.kind, "transient");
    assert.equal(failure?.enhanced, "4.7.5");
    assert.match(failure?.text ?? "", /DANE authentication failed: 3 1 1 /);
    assert.deepEqual(received, []);
    // A verified handshake's failure is not the peer's broken TLS: opportunistic sessions with
    // it must not be pushed to plaintext.
    assert.deepEqual(memory.list(), []);
  },
});
