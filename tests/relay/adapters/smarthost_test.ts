/**
 * SmtpDeliverer through a smarthost route: a real Postfix offering submission (STARTTLS required,
 * then SMTP AUTH, 587-style) and smtps (implicit TLS, 465-style), checking credentials through a
 * private Dovecot, with a certificate from the test CA. Mail arrives in Postfix's Maildir; AUTH
 * happens only once the channel is encrypted; refused credentials are a transient with a reply
 * naming host and user, reported through the deliverer's port; the password is never written to
 * a transcript or a reply.
 */
import assert from "node:assert/strict";
import type { Delivery } from "../../../actors/ports.ts";
import { MessageSource } from "../../../relay/adapters/message_source.ts";
import type { RouteTransport, SmarthostAuthEvent } from "../../../relay/adapters/smarthost.ts";
import { SmtpDeliverer } from "../../../relay/adapters/smtp_deliverer.ts";
import { buildRouteTable, createRouter } from "../../../relay/dns/mod.ts";
import type { TraceEvent } from "../../../relay/smtp/mod.ts";
import type { MessageRow } from "../../../db/messages.ts";
import { Secret } from "../../../lib/secret.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import { esmtp, startScriptedPeer } from "../../_fakes/scripted_smtp_peer.ts";
import { dovecotAvailable, startDovecot } from "../../_peers/dovecot.ts";
import { hasPostfix, startPostfix } from "../../_peers/postfix.ts";
import { requirePeer } from "../../_support/peers.ts";
import { hasOpenssl, testPki } from "../tls/_test_certs.ts";

const NOW = Date.UTC(2030, 0, 1, 9);
const USER = "ferry@relay.test";
const PASSWORD = "Corr3ct-Horse-Battery";
const WRONG = "Wr0ng-Staple-Guess";

function row(id: number): MessageRow {
  return {
    id,
    fromAddress: "Shop <shop@ferry.test>",
    to: ["ada@mx.test"],
    cc: [],
    bcc: [],
    replyTo: null,
    subject: `through the smarthost #${id}`,
    text: `message ${id}`,
    html: null,
    headers: null,
    raw: null,
    createdAt: new Date(NOW),
    metadata: null,
  };
}

function delivery(outboxId: number): Delivery {
  return {
    id: outboxId,
    outboxId,
    recipient: "ada@mx.test",
    domain: "mx.test",
    priority: 1,
    attempts: 0,
    expiresAt: NOW + 86_400_000,
    smtputf8: false,
    leaseToken: 1,
    leaseExpiresAt: NOW + 86_400_000,
  };
}

interface Harness {
  readonly deliverer: SmtpDeliverer;
  readonly reports: SmarthostAuthEvent[];
  readonly transcript: TraceEvent[];
}

/** A deliverer whose one route, `*`, goes to 127.0.0.1:`port` with `transport`. */
function harness(port: number, transport: RouteTransport, caCerts?: string[]): Harness {
  const clock = new FakeClock(NOW);
  const routes = buildRouteTable([{ pattern: "*", host: "127.0.0.1", port }]);
  if (!routes.ok) throw new Error(routes.reason);
  const reports: SmarthostAuthEvent[] = [];
  const transcript: TraceEvent[] = [];
  const deliverer = new SmtpDeliverer({
    clock,
    router: createRouter({ resolver: new FakeResolver(), random: () => 0.5, routes: routes.table }),
    messages: new MessageSource({
      load: (id) => Promise.resolve(row(id)),
      clock,
      messageIdDomain: "relay.test",
    }),
    heloName: "relay.test",
    // What the destination's own policy would say: the route's transport must override it.
    tlsPolicy: () => "opportunistic",
    ...(caCerts ? { caCerts } : {}),
    trace: (e) => transcript.push(e),
    routeTransport: (pattern) => (pattern === "*" ? transport : undefined),
    smarthostAuth: (e) => reports.push(e),
  });
  return { deliverer, reports, transcript };
}

const auth = (password: string, mechanism?: "PLAIN" | "LOGIN") => ({
  username: USER,
  password: new Secret(password),
  ...(mechanism ? { mechanism } : {}),
});

/** Sends message `id` through a fresh connection and asserts it was accepted. */
async function deliverOne(h: Harness, id: number): Promise<void> {
  const c = await h.deliverer.connect("mx.test", new AbortController().signal);
  if (c.kind !== "connected") return assert.fail(`no session: ${c.result.reply}`);
  assert.equal(c.session.tls, true);
  const [result] = await c.session.send(id, [delivery(id)], new AbortController().signal);
  assert.equal(result?.kind, "delivered", JSON.stringify(result));
  await c.session.close();
}

function lines(transcript: readonly TraceEvent[]): string[] {
  return transcript.map((e) => `${e.direction} ${e.line}`);
}

function assertNoPassword(texts: readonly string[]): void {
  const all = texts.join("\n");
  for (const secret of [PASSWORD, WRONG]) {
    assert.ok(!all.includes(secret), "the password in clear");
    assert.ok(!all.includes(btoa(secret)), "the password in base64 (LOGIN)");
    assert.ok(!all.includes(btoa(`\u0000${USER}\u0000${secret}`)), "the PLAIN token");
  }
}

Deno.test({
  name: "SmtpDeliverer relays through a real Postfix smarthost with SMTP AUTH (587 and 465)",
  ignore: requirePeer("postfix+dovecot", !hasPostfix || !dovecotAvailable || !hasOpenssl),
  async fn(t) {
    const pki = await testPki();
    await using dovecot = await startDovecot({
      user: USER,
      password: PASSWORD,
      authSocketOwner: "postfix",
    });
    await using postfix = await startPostfix({
      tls: { certFile: pki.certFile, keyFile: pki.keyFile },
      submission: { saslPath: dovecot.authSocket! },
    });
    const submission = postfix.submissionPort!;
    const smtps = postfix.smtpsPort!;
    let arrived = 0;

    await t.step("587: STARTTLS, verified, then AUTH PLAIN; the mail arrives", async () => {
      const h = harness(submission, { tls: "starttls", auth: auth(PASSWORD) }, [pki.caPem]);
      await deliverOne(h, 1);
      const mail = await postfix.delivered(++arrived);
      assert.match(new TextDecoder().decode(mail.at(-1)), /through the smarthost #1/);
      const l = lines(h.transcript);
      const tls = l.indexOf("note TLS established (verified)");
      const authAt = l.findIndex((x) => x.startsWith("out AUTH"));
      assert.ok(tls > 0 && authAt > tls, `AUTH only after TLS:\n${l.join("\n")}`);
      assert.equal(l[authAt], "out AUTH PLAIN <redacted>");
      assert.ok(l.includes("in 235 2.7.0 Authentication successful"));
      assert.deepEqual(h.reports, [{
        kind: "accepted",
        route: "*",
        host: "127.0.0.1",
        username: USER,
      }]);
      assertNoPassword(l);
    });

    await t.step("465: implicit TLS, then AUTH LOGIN; the mail arrives", async () => {
      const h = harness(smtps, { tls: "implicit", auth: auth(PASSWORD, "LOGIN") }, [pki.caPem]);
      await deliverOne(h, 2);
      const mail = await postfix.delivered(++arrived);
      assert.match(new TextDecoder().decode(mail.at(-1)), /through the smarthost #2/);
      const l = lines(h.transcript);
      assert.ok(!l.includes("out STARTTLS"), "TLS from the first byte: no STARTTLS");
      assert.deepEqual(
        l.filter((x) => x.startsWith("out AUTH") || x === "out <redacted>"),
        ["out AUTH LOGIN", "out <redacted>", "out <redacted>"],
      );
      assert.equal(h.reports[0]?.kind, "accepted");
      assertNoPassword(l);
    });

    await t.step("verify: the test CA is not trusted without caCerts, so no AUTH", async () => {
      const h = harness(submission, { tls: "starttls", auth: auth(PASSWORD) });
      const c = await h.deliverer.connect("mx.test", new AbortController().signal);
      assert.equal(c.kind, "failed");
      if (c.kind !== "failed") return;
      assert.equal(c.result.kind, "transient");
      assert.match(c.result.reply, /^451 4\.7\.5 TLS handshake with 127\.0\.0\.1 failed/);
      assert.ok(!lines(h.transcript).some((x) => x.startsWith("out AUTH")));
      assert.deepEqual(h.reports, [], "a TLS failure says nothing about the credentials");
    });

    await t.step("verify: false encrypts without checking the certificate", async () => {
      const h = harness(smtps, { tls: "implicit", verify: false, auth: auth(PASSWORD) });
      await deliverOne(h, 3);
      await postfix.delivered(++arrived);
    });

    await t.step("a wrong password: a transient naming host and user, reported", async () => {
      const h = harness(submission, { tls: "starttls", auth: auth(WRONG) }, [pki.caPem]);
      const c = await h.deliverer.connect("mx.test", new AbortController().signal);
      assert.equal(c.kind, "failed");
      if (c.kind !== "failed") return;
      assert.equal(c.result.kind, "transient", "refused credentials never bounce");
      assert.equal(c.result.scope, "connection");
      assert.equal(c.result.code, 451);
      assert.equal(c.result.enhanced, "4.7.8");
      assert.match(
        c.result.reply,
        /^451 4\.7\.8 smarthost 127\.0\.0\.1 refused the credentials for user ferry@relay\.test: 535 5\.7\.8 Error: authentication failed/,
      );
      assert.equal(c.mxHost, "127.0.0.1");
      assert.deepEqual(h.reports, [{
        kind: "refused",
        route: "*",
        host: "127.0.0.1",
        username: USER,
        reply: c.result.reply,
      }]);
      assertNoPassword([...lines(h.transcript), c.result.reply]);
    });

    const all = await postfix.delivered(arrived);
    assert.equal(all.length, arrived, "nothing else arrived");
    assert.ok(
      (await postfix.log()).includes(`sasl_username=${USER}`),
      "Postfix saw the authenticated user",
    );
  },
});

Deno.test("SmtpDeliverer never sends AUTH to a smarthost that does not offer STARTTLS", async () => {
  await using peer = startScriptedPeer(
    esmtp({ ehlo: ["250-smarthost.test", "250-PIPELINING", "250 AUTH PLAIN LOGIN"] }),
  );
  const h = harness(peer.port, { tls: "starttls", auth: auth(PASSWORD) });
  const c = await h.deliverer.connect("mx.test", new AbortController().signal);
  assert.equal(c.kind, "failed");
  if (c.kind !== "failed") return;
  assert.equal(c.result.kind, "transient");
  assert.match(c.result.reply, /^451 4\.7\.4 TLS is required \(policy 'verified'\)/);
  assert.deepEqual(peer.links.flatMap((l) => l.lines), ["EHLO relay.test", "QUIT"]);
  assert.deepEqual(h.reports, []);
});
