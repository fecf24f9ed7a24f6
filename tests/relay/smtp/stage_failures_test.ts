/**
 * 4xx and 5xx at every stage of a session, from npm smtp-server where it can refuse (greeting,
 * MAIL, RCPT, end of data) and from the scripted peer where it cannot (EHLO, DATA).
 */
import assert from "node:assert/strict";
import { connectSmtp, type Failure } from "../../../relay/smtp/mod.ts";
import { esmtp, startScriptedPeer } from "../../_fakes/scripted_smtp_peer.ts";
import { mustConnect, only, simpleMessage, testOptions } from "./_helpers.ts";
import { smtpError, startSmtpServer } from "./_smtp_server.ts";

const envelope = {
  mailFrom: "sender@ferry.test",
  recipients: ["rcpt@peer.test"],
  message: simpleMessage(),
};

function assertFailure(actual: unknown, expected: Partial<Failure>): void {
  assert.ok(actual && typeof actual === "object");
  assert.deepEqual(
    Object.fromEntries(
      Object.keys(expected).map((k) => [k, (actual as Record<string, unknown>)[k]]),
    ),
    expected,
  );
}

for (const [code, kind] of [[421, "transient"], [554, "permanent"]] as const) {
  Deno.test(`connectSmtp() classifies a ${code} greeting as a ${kind} connection failure`, async () => {
    await using server = await startSmtpServer({
      onConnect: (_session, callback) => callback(smtpError(code, "Go away")),
    });
    const opened = await connectSmtp("127.0.0.1", server.port, testOptions());
    assert.equal(opened.kind, "failed");
    if (opened.kind === "failed") {
      assertFailure(opened.failure, { kind, scope: "connection", code, source: "peer" });
    }
  });
}

Deno.test("connectSmtp() classifies a 421 to EHLO as a transient connection failure", async () => {
  await using peer = startScriptedPeer(esmtp({ ehlo: "421 4.3.2 Shutting down" }));
  const opened = await connectSmtp("127.0.0.1", peer.port, testOptions());
  assert.equal(opened.kind, "failed");
  if (opened.kind === "failed") {
    assertFailure(opened.failure, {
      kind: "transient",
      scope: "connection",
      code: 421,
      enhanced: "4.3.2",
    });
  }
});

Deno.test("connectSmtp() falls back to HELO when EHLO is refused with 5xx", async () => {
  const seen: Uint8Array[] = [];
  await using peer = startScriptedPeer(
    esmtp({ ehlo: "502 5.5.2 What?", onMessage: (m) => seen.push(m) }),
  );
  const options = testOptions();
  const session = await mustConnect(peer.port, options);
  assert.equal(session.capabilities.esmtp, false);
  assert.equal(only(await session.send(envelope)).kind, "delivered");
  await session.quit();
  const out = options.transcript.filter((e) => e.direction === "out").map((e) => e.line);
  // No SIZE= without the SIZE extension; lock-step without PIPELINING.
  assert.deepEqual(out.slice(0, 3), [
    "EHLO relay.ferry.test",
    "HELO relay.ferry.test",
    "MAIL FROM:<sender@ferry.test>",
  ]);
  assert.equal(seen.length, 1);
});

Deno.test("connectSmtp() classifies a 5xx to both EHLO and HELO as a permanent connection failure", async () => {
  await using peer = startScriptedPeer(esmtp({ ehlo: "550 5.7.1 No", helo: "550 5.7.1 Still no" }));
  const opened = await connectSmtp("127.0.0.1", peer.port, testOptions());
  assert.equal(opened.kind, "failed");
  if (opened.kind === "failed") {
    assertFailure(opened.failure, { kind: "permanent", scope: "connection", code: 550 });
  }
});

for (const [code, kind] of [[451, "transient"], [550, "permanent"]] as const) {
  Deno.test(`SmtpSession.send() gives every recipient a ${kind} message failure on ${code} to MAIL`, async () => {
    await using server = await startSmtpServer({
      onMailFrom: (_address, _session, callback) => callback(smtpError(code, "Sender refused")),
    });
    const session = await mustConnect(server.port, testOptions());
    const outcomes = await session.send({
      ...envelope,
      recipients: ["a@peer.test", "b@peer.test"],
    });
    for (const { outcome } of outcomes) assertFailure(outcome, { kind, scope: "message", code });
    assert.ok(session.usable, "a refused MAIL leaves the session usable");
    // Nothing was accepted; the RSET that follows is covered by the connection reuse test.
    assert.equal(server.messages.length, 0);
    await session.quit();
  });

  Deno.test(`SmtpSession.send() gives one recipient a ${kind} recipient failure on ${code} to its RCPT`, async () => {
    await using server = await startSmtpServer({
      onRcptTo: (address, _session, callback) =>
        callback(
          address.address.startsWith("bad")
            ? smtpError(code, "Mailbox busy or unknown")
            : undefined,
        ),
    });
    const session = await mustConnect(server.port, testOptions());
    const outcomes = await session.send({
      ...envelope,
      recipients: ["good@peer.test", "bad@peer.test"],
    });
    assert.equal(outcomes[0]!.outcome.kind, "delivered");
    assertFailure(outcomes[1]!.outcome, { kind, scope: "recipient", code });
    assert.deepEqual(server.messages[0]!.recipients, ["good@peer.test"]);
    await session.quit();
  });

  Deno.test(`SmtpSession.send() gives accepted recipients a ${kind} message failure on ${code} after data`, async () => {
    await using server = await startSmtpServer({
      onData: (stream, _session, callback) => {
        stream.on("data", () => {});
        stream.on(
          "end",
          () => callback(smtpError(code, "Content refused, try again in 2 minutes")),
        );
      },
    });
    const session = await mustConnect(server.port, testOptions());
    const outcome = only(await session.send(envelope));
    assertFailure(outcome, { kind, scope: "message", code });
    if (outcome.kind === "transient") assert.equal(outcome.retryAfterMs, 120_000);
    assert.ok(session.usable);
    await session.quit();
  });

  Deno.test(`SmtpSession.send() gives accepted recipients a ${kind} message failure on ${code} to DATA`, async () => {
    await using peer = startScriptedPeer(esmtp({ data: `${code} ${String(code)[0]}.3.0 Not now` }));
    const session = await mustConnect(peer.port, testOptions());
    const outcome = only(await session.send(envelope));
    assertFailure(outcome, { kind, scope: "message", code, enhanced: `${String(code)[0]}.3.0` });
    // The next transaction resets first, and goes through.
    assert.ok(session.usable);
    await session.quit();
  });
}

Deno.test("SmtpSession.send() classifies a 421 to RCPT mid-session as a connection failure and closes", async () => {
  let count = 0;
  await using server = await startSmtpServer({
    onRcptTo: (_address, _session, callback) =>
      callback(++count >= 2 ? smtpError(421, "Too busy, retry in 5 minutes") : undefined),
  });
  const session = await mustConnect(server.port, testOptions());
  assert.equal(only(await session.send(envelope)).kind, "delivered");
  const outcomes = await session.send({ ...envelope, recipients: ["x@peer.test", "y@peer.test"] });
  for (const { outcome } of outcomes) {
    assertFailure(outcome, {
      kind: "transient",
      scope: "connection",
      code: 421,
      retryAfterMs: 300_000,
    });
  }
  assert.equal(session.usable, false);
  const after = only(await session.send(envelope));
  assertFailure(after, { kind: "transient", scope: "connection", source: "local" });
  await session.quit();
});

Deno.test("SmtpSession.send() ends DATA empty when a pipelined DATA gets 354 after every RCPT failed", async () => {
  const messages: Uint8Array[] = [];
  await using peer = startScriptedPeer(esmtp({
    rcpt: "550 5.1.1 Unknown",
    onMessage: (m) => messages.push(m),
  }));
  const session = await mustConnect(peer.port, testOptions());
  const outcome = only(await session.send(envelope));
  assertFailure(outcome, { kind: "permanent", scope: "recipient", code: 550 });
  // RFC 2920 §3.1: only the end-of-data mark went out, not the message.
  assert.deepEqual(messages.map((m) => m.length), [0]);
  assert.ok(session.usable);
  await session.quit();
});

Deno.test("SmtpSession.send() reuses one connection, with RSET after an incomplete transaction", async () => {
  let mails = 0;
  await using peer = startScriptedPeer(esmtp({
    mail: () => ++mails === 2 ? "452 4.3.1 Insufficient storage" : "250 2.1.0 Ok",
  }));
  const options = testOptions();
  const session = await mustConnect(peer.port, options);
  const kinds = [];
  for (let i = 0; i < 4; i++) kinds.push(only(await session.send(envelope)).kind);
  assert.deepEqual(kinds, ["delivered", "transient", "delivered", "delivered"]);
  assert.equal(session.transactions, 3);
  await session.quit();
  assert.equal(peer.links.length, 1, "one connection for all transactions");
  const verbs = peer.links[0]!.lines.map((l) => l.split(/[ :]/)[0]);
  assert.deepEqual(verbs, [
    "EHLO",
    ...["MAIL", "RCPT", "DATA"],
    ...["MAIL", "RCPT", "DATA"],
    ...["RSET", "MAIL", "RCPT", "DATA"],
    ...["MAIL", "RCPT", "DATA"],
    "QUIT",
  ]);
});
