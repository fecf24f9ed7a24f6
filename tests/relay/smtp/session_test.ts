import assert from "node:assert/strict";
import { esmtp, startScriptedPeer } from "../../_fakes/scripted_smtp_peer.ts";
import { decoder, mustConnect, simpleMessage, testOptions } from "./_helpers.ts";

Deno.test("SmtpSession.send() pipelines MAIL, RCPTs and DATA and reports each recipient", async () => {
  const received: Uint8Array[] = [];
  await using peer = startScriptedPeer(esmtp({
    rcpt: (line) => line.includes("nobody@") ? "550 5.1.1 No such user" : "250 2.1.5 Ok",
    onMessage: (m) => received.push(m),
  }));
  const options = testOptions();
  const session = await mustConnect(peer.port, options);
  assert.equal(session.capabilities.pipelining, true);
  const message = simpleMessage();
  const outcomes = await session.send({
    mailFrom: "sender@ferry.test",
    recipients: ["a@peer.test", "nobody@peer.test", "b@peer.test"],
    message,
  });
  assert.deepEqual(outcomes.map((o) => [o.recipient, o.outcome.kind]), [
    ["a@peer.test", "delivered"],
    ["nobody@peer.test", "permanent"],
    ["b@peer.test", "delivered"],
  ]);
  assert.deepEqual(outcomes[1]!.outcome, {
    kind: "permanent",
    scope: "recipient",
    code: 550,
    enhanced: "5.1.1",
    text: "No such user",
    source: "peer",
  });
  assert.equal(decoder.decode(received[0]), decoder.decode(message));
  assert.ok(session.usable);
  await session.quit();
  assert.equal(session.usable, false);
  // The whole group went out in one write (RFC 2920): the out-lines are consecutive.
  const out = options.transcript.filter((e) => e.direction === "out").map((e) => e.line);
  assert.deepEqual(out, [
    "EHLO relay.ferry.test",
    `MAIL FROM:<sender@ferry.test> SIZE=${message.length}`,
    "RCPT TO:<a@peer.test>",
    "RCPT TO:<nobody@peer.test>",
    "RCPT TO:<b@peer.test>",
    "DATA",
    "QUIT",
  ]);
});
