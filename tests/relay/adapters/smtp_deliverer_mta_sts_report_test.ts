/**
 * The TLS results (RFC 8460) the SMTP deliverer reports for an MTA-STS policy whose `mx:` lines
 * do not name the domain's MX host (RFC 8461 §4.1): under `testing` the mail goes there and the
 * session is a `validation-failure` (`mx-host-mismatch`); under `enforce` no session is made,
 * and that one prevented session is the failure. A listed host is a success.
 */
import assert from "node:assert/strict";
import { resolvePolicy } from "../../../actors/policy.ts";
import {
  MX_HOST_MISMATCH,
  SmtpDeliverer,
  type TlsReport,
} from "../../../relay/adapters/smtp_deliverer.ts";
import { MessageSource } from "../../../relay/adapters/message_source.ts";
import { createRouter } from "../../../relay/dns/mod.ts";
import type { MtaStsDecision } from "../../../relay/mta_sts/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import { requirePeer } from "../../_support/peers.ts";
import { startSmtpServer } from "../smtp/_smtp_server.ts";
import { hasOpenssl, testPki } from "../tls/_test_certs.ts";

const AT = Date.UTC(2030, 0, 1);
const MX = "mx.corp.test";

function decision(mode: "enforce" | "testing", ...mx: string[]): MtaStsDecision {
  return {
    mode,
    domain: "corp.test",
    source: "cache",
    policy: {
      domain: "corp.test",
      id: "1",
      mode,
      mx,
      maxAge: 604_800,
      fetchedAt: AT,
      expiresAt: AT + 604_800_000,
      lastError: null,
    },
  };
}

/** A deliverer for corp.test (MX mx.corp.test at 127.0.0.1:`port`) under `policy`. */
function deliverer(port: number, policy: MtaStsDecision, reports: TlsReport[]): SmtpDeliverer {
  const clock = new FakeClock(AT);
  const resolver = new FakeResolver({
    "corp.test": { mx: [{ preference: 10, exchange: MX }] },
    [MX]: { a: ["127.0.0.1"] },
  });
  return new SmtpDeliverer({
    clock,
    router: createRouter({ resolver, random: () => 0.5, port, addressOrder: "ipv4-only" }),
    messages: new MessageSource({
      load: () => Promise.reject(new Error("no message is sent by these tests")),
      clock,
      messageIdDomain: "relay.test",
    }),
    heloName: "relay.test",
    tlsPolicy: (domain, mxHosts) => resolvePolicy(domain, mxHosts).tls,
    mtaSts: { policyFor: () => Promise.resolve(policy) },
    onTls: (r) => reports.push(r),
  });
}

/** An MX offering STARTTLS with a certificate no one trusts: opportunistic TLS works. */
async function tlsPeer(connections: { count: number }) {
  const pki = await testPki();
  return await startSmtpServer({
    key: pki.keyPem,
    cert: pki.certPem,
    disabledCommands: [],
    onConnect(_session, callback) {
      connections.count++;
      callback();
    },
  });
}

const ignore = requirePeer("openssl", !hasOpenssl);

Deno.test({
  name: "testing: a session with an MX host the policy does not list is a validation-failure",
  ignore,
  async fn() {
    const connections = { count: 0 };
    await using peer = await tlsPeer(connections);
    const reports: TlsReport[] = [];
    const r = await deliverer(peer.port, decision("testing", "mx.elsewhere.test"), reports)
      .connect("corp.test", new AbortController().signal);
    assert.equal(r.kind, "connected", "RFC 8461 §5: testing delivers all the same");
    if (r.kind === "connected") await r.session.close();
    assert.equal(reports.length, 1);
    const [report] = reports;
    assert.deepEqual(
      [report!.applied.kind, report!.mxHost, report!.result, report!.reason, report!.tls],
      ["mta-sts", MX, "validation-failure", MX_HOST_MISMATCH, true],
    );
  },
});

Deno.test({
  name: "testing: a session with a listed MX host over TLS is a success",
  ignore,
  async fn() {
    const connections = { count: 0 };
    await using peer = await tlsPeer(connections);
    const reports: TlsReport[] = [];
    const r = await deliverer(peer.port, decision("testing", "*.corp.test"), reports)
      .connect("corp.test", new AbortController().signal);
    if (r.kind === "connected") await r.session.close();
    assert.deepEqual(reports.map((x) => [x.result, x.reason]), [["success", undefined]]);
  },
});

Deno.test({
  name: "enforce: no listed MX host, no session, and that prevented session is reported",
  ignore,
  async fn() {
    const connections = { count: 0 };
    await using peer = await tlsPeer(connections);
    const reports: TlsReport[] = [];
    const r = await deliverer(peer.port, decision("enforce", "mx.elsewhere.test"), reports)
      .connect("corp.test", new AbortController().signal);
    assert.equal(r.kind, "failed");
    assert.equal(r.kind === "failed" && r.result.code, 451);
    assert.equal(connections.count, 0, "the unlisted host is never contacted");
    assert.equal(reports.length, 1);
    const [report] = reports;
    assert.deepEqual(
      {
        kind: report!.applied.kind,
        mode: report!.applied.kind === "mta-sts" && report!.applied.mode,
        mxHost: report!.mxHost,
        address: report!.address,
        result: report!.result,
        reason: report!.reason,
        tls: report!.tls,
      },
      {
        kind: "mta-sts",
        mode: "enforce",
        mxHost: MX,
        address: "127.0.0.1",
        result: "validation-failure",
        reason: MX_HOST_MISMATCH,
        tls: false,
      },
    );
  },
});
