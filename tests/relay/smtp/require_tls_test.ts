/**
 * REQUIRETLS (RFC 8689) in the SMTP client: the EHLO keyword, the MAIL FROM parameter, the
 * session's `tlsVerified`, and the refusal before a byte of a message is sent when the session
 * cannot honour it (5.7.10 without a verified TLS session, 5.7.30 without REQUIRETLS), checked
 * per message on a shared session.
 */
import assert from "node:assert/strict";
import {
  type Capabilities,
  HELO_CAPABILITIES,
  mailCommand,
  makeReply,
  type Outcome,
  parseEhlo,
  requireTlsRefusal,
} from "../../../relay/smtp/mod.ts";
import { esmtp, startScriptedPeer } from "../../_fakes/scripted_smtp_peer.ts";
import { hasOpenssl, testPki } from "../tls/_test_certs.ts";
import { requirePeer } from "../../_support/peers.ts";
import { mustConnect, only, simpleMessage, testOptions } from "./_helpers.ts";
import { startSmtpServer } from "./_smtp_server.ts";

const base = { mailFrom: "sender@ferry.test", recipients: ["rcpt@peer.test"] };

function caps(...keywords: string[]): Capabilities {
  return parseEhlo(makeReply(250, ["peer.test", ...keywords]));
}

/** The parts of a failure the tests compare. */
function failure(o: Outcome | undefined): unknown[] {
  if (!o || o.kind === "delivered") return [o?.kind];
  return [o.kind, o.scope, o.code, o.enhanced, o.source];
}

Deno.test("parseEhlo() reads REQUIRETLS (RFC 8689 §2); HELO and its absence mean no", () => {
  assert.equal(caps("PIPELINING", "REQUIRETLS", "SMTPUTF8").requireTls, true);
  assert.equal(caps("requiretls").requireTls, true, "keywords are case-insensitive");
  assert.equal(caps("PIPELINING", "STARTTLS").requireTls, false);
  assert.equal(HELO_CAPABILITIES.requireTls, false);
});

Deno.test("mailCommand() puts REQUIRETLS after the path with the other parameters", () => {
  assert.equal(
    mailCommand("a@shop.test", ["SIZE=120", "BODY=8BITMIME", "REQUIRETLS"]),
    "MAIL FROM:<a@shop.test> SIZE=120 BODY=8BITMIME REQUIRETLS",
  );
});

Deno.test("requireTlsRefusal() needs TLS, a verified certificate and REQUIRETLS, in that order", () => {
  const peer = "mx.test";
  const plain = { peerName: peer, tls: false, tlsVerified: false };
  const unverified = { peerName: peer, tls: true, tlsVerified: false };
  const verified = { peerName: peer, tls: true, tlsVerified: true };
  const announced = caps("REQUIRETLS");
  const silent = caps("PIPELINING");

  const noTls = requireTlsRefusal(announced, plain);
  assert.deepEqual(failure(noTls), ["permanent", "message", 550, "5.7.10", "local"]);
  assert.match(noTls!.text, /^Encryption needed: .*mx\.test is not encrypted/);

  const notVerified = requireTlsRefusal(announced, unverified);
  assert.deepEqual(failure(notVerified), ["permanent", "message", 550, "5.7.10", "local"]);
  assert.match(notVerified!.text, /certificate of mx\.test was not verified/);

  const notAnnounced = requireTlsRefusal(silent, verified);
  assert.deepEqual(failure(notAnnounced), ["permanent", "message", 550, "5.7.30", "local"]);
  assert.match(notAnnounced!.text, /^REQUIRETLS support required: mx\.test does not announce/);

  // A plaintext peer announcing REQUIRETLS is still plaintext.
  assert.equal(requireTlsRefusal(silent, plain)!.enhanced, "5.7.10");
  assert.equal(requireTlsRefusal(announced, verified), undefined);
});

Deno.test("SmtpSession.send() refuses a REQUIRETLS message over plaintext without sending it, then sends the next message on the same session", async () => {
  // The peer even announces REQUIRETLS: over plaintext that changes nothing.
  await using peer = startScriptedPeer(
    esmtp({ ehlo: ["250-peer.test", "250-PIPELINING", "250 REQUIRETLS"] }),
  );
  const session = await mustConnect(peer.port, testOptions());
  assert.deepEqual([session.tls, session.tlsVerified], [false, false]);

  const refused = only(
    await session.send({ ...base, message: simpleMessage(), requireTls: true }),
  );
  assert.deepEqual(failure(refused), ["permanent", "message", 550, "5.7.10", "local"]);
  assert.ok(session.usable, "a refusal of one message leaves the session to the others");

  // Connection reuse: the next message is checked on its own and goes as today.
  assert.equal(only(await session.send({ ...base, message: simpleMessage() })).kind, "delivered");
  await session.quit();
  const mails = peer.links[0]!.lines.filter((l) => l.startsWith("MAIL"));
  assert.deepEqual(mails, ["MAIL FROM:<sender@ferry.test>"], "only the second message was sent");
});

const ignore = requirePeer("openssl", !hasOpenssl);

async function tlsServer(options: Parameters<typeof startSmtpServer>[0] = {}) {
  const pki = await testPki();
  return await startSmtpServer({
    key: pki.keyPem,
    cert: pki.certPem,
    disabledCommands: [],
    ...options,
  });
}

Deno.test({
  name:
    "SmtpSession.tlsVerified is true only after a verified handshake; REQUIRETLS then goes on MAIL FROM",
  ignore,
  async fn() {
    const pki = await testPki();
    // smtp-server announces REQUIRETLS over TLS only, when asked to.
    await using server = await tlsServer({ hideREQUIRETLS: false });

    const opportunistic = await mustConnect(server.port, testOptions({ peerName: "mx.test" }));
    assert.deepEqual([opportunistic.tls, opportunistic.tlsVerified], [true, false]);
    assert.equal(opportunistic.capabilities.requireTls, true);
    const unverified = only(
      await opportunistic.send({ ...base, message: simpleMessage(), requireTls: true }),
    );
    assert.deepEqual(failure(unverified), ["permanent", "message", 550, "5.7.10", "local"]);
    await opportunistic.quit();

    const options = testOptions({
      peerName: "mx.test",
      tlsPolicy: "verified",
      caCerts: [pki.caPem],
    });
    const verified = await mustConnect(server.port, options);
    assert.deepEqual([verified.tls, verified.tlsVerified], [true, true]);
    const sent = only(
      await verified.send({ ...base, message: simpleMessage(), requireTls: true }),
    );
    assert.equal(sent.kind, "delivered", JSON.stringify(sent));
    await verified.quit();
    const mails = options.transcript.filter((e) => e.direction === "out" && /^MAIL/.test(e.line));
    assert.deepEqual(mails.map((e) => e.line), ["MAIL FROM:<sender@ferry.test> REQUIRETLS"]);
    assert.equal(server.messages.length, 1);
    assert.equal(server.messages[0]!.requireTls, true, "the receiver took on the requirement");
  },
});

Deno.test({
  name: "SmtpSession.tlsVerified follows the policy under implicit TLS (RFC 8314) too",
  ignore,
  async fn() {
    const pki = await testPki();
    await using server = await tlsServer({ secure: true, hideREQUIRETLS: false });
    for (const [tlsPolicy, expected] of [["verified", true], ["opportunistic", false]] as const) {
      const session = await mustConnect(
        server.port,
        testOptions({ peerName: "mx.test", implicitTls: true, tlsPolicy, caCerts: [pki.caPem] }),
      );
      assert.deepEqual([tlsPolicy, session.tls, session.tlsVerified], [tlsPolicy, true, expected]);
      await session.quit();
    }
  },
});
