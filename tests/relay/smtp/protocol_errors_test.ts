/**
 * Garbage replies and hang-ups: each is a classified transient connection failure (the session
 * is closed, the caller backs off and retries), never an exception or a crash.
 */
import assert from "node:assert/strict";
import { connectSmtp, type Outcome } from "../../../relay/smtp/mod.ts";
import { esmtp, type PeerLink, startScriptedPeer } from "../../_fakes/scripted_smtp_peer.ts";
import { encoder, mustConnect, only, simpleMessage, testOptions } from "./_helpers.ts";

const envelope = {
  mailFrom: "sender@ferry.test",
  recipients: ["rcpt@peer.test"],
  message: simpleMessage(),
};

function assertConnectionFailure(outcome: Outcome, enhanced: string, text: RegExp): void {
  assert.equal(outcome.kind, "transient", JSON.stringify(outcome));
  if (outcome.kind !== "transient") return;
  assert.equal(outcome.scope, "connection");
  assert.equal(outcome.enhanced, enhanced);
  assert.match(outcome.text, text);
}

for (
  const [name, bytes, why] of [
    ["an HTTP response", "HTTP/1.1 400 Bad Request\r\n\r\n", /does not start with a 3-digit code/],
    ["binary noise", "\u0000\u00ff\u0013\r\n", /does not start with a 3-digit code/],
    ["a code out of range", "999 what\r\n", /does not start with a 3-digit code/],
    [
      "a multi-line reply changing code",
      "220-hello\r\n250 world\r\n",
      /changed its code from 220 to 250/,
    ],
    ["an endless line", "220 " + "x".repeat(20_000), /has no end/],
  ] as const
) {
  Deno.test(`connectSmtp() classifies ${name} as greeting as a protocol error`, async () => {
    await using peer = startScriptedPeer(async (link) => {
      await link.send(bytes);
      while (await link.readLine() !== null) { /* wait for the hang-up */ }
    });
    const opened = await connectSmtp("127.0.0.1", peer.port, testOptions());
    assert.equal(opened.kind, "failed");
    if (opened.kind === "failed") assertConnectionFailure(opened.failure, "4.5.0", why);
  });
}

Deno.test("SmtpSession.send() classifies a garbage reply to MAIL as a protocol error and closes", async () => {
  await using peer = startScriptedPeer(esmtp({ mail: "OK whatever" }));
  const session = await mustConnect(peer.port, testOptions());
  const outcomes = await session.send({ ...envelope, recipients: ["a@peer.test", "b@peer.test"] });
  for (const { outcome } of outcomes) assertConnectionFailure(outcome, "4.5.0", /phase 'mail'/);
  assert.equal(session.usable, false);
});

Deno.test("SmtpSession.send() classifies an unexpected 354 to RCPT as a protocol error", async () => {
  await using peer = startScriptedPeer(esmtp({ rcpt: "354 go on then" }));
  const session = await mustConnect(peer.port, testOptions());
  assertConnectionFailure(only(await session.send(envelope)), "4.5.0", /unexpected reply 354/);
  assert.equal(session.usable, false);
});

Deno.test("connectSmtp() classifies a hang-up right after the greeting", async () => {
  await using peer = startScriptedPeer(async (link) => {
    await link.reply("220 peer.test ESMTP");
    link.close();
  });
  const opened = await connectSmtp("127.0.0.1", peer.port, testOptions());
  assert.equal(opened.kind, "failed");
  if (opened.kind === "failed") assertConnectionFailure(opened.failure, "4.4.2", /phase 'ehlo'/);
});

Deno.test("connectSmtp() classifies a refused connection", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const opened = await connectSmtp("127.0.0.1", port, testOptions());
  assert.equal(opened.kind, "failed");
  if (opened.kind === "failed") {
    assertConnectionFailure(opened.failure, "4.4.1", /cannot connect to 127\.0\.0\.1/);
  }
});

/** Answers up to 354, then runs `inData`. */
function hangUpInData(
  inData: (link: PeerLink) => Promise<void>,
): (link: PeerLink) => Promise<void> {
  return async (link) => {
    await link.reply("220 peer.test ESMTP");
    for (let i = 0; i < 10; i++) {
      const line = await link.readLine();
      if (line === null) return;
      if (line.startsWith("EHLO")) await link.reply("250-peer.test", "250 PIPELINING");
      else if (line === "DATA") {
        await link.reply("354 Go ahead");
        return await inData(link);
      } else await link.reply("250 Ok");
    }
  };
}

Deno.test("SmtpSession.send() classifies a hang-up while the message is being sent", async () => {
  await using peer = startScriptedPeer(hangUpInData(async (link) => {
    await link.readSome();
    link.close();
  }));
  const line = encoder.encode("y".repeat(998) + "\r\n");
  const message = new Uint8Array(line.length * 8_000);
  for (let off = 0; off < message.length; off += line.length) message.set(line, off);
  const session = await mustConnect(peer.port, testOptions());
  // Either the write fails (reset/broken pipe) or the read finds the end of stream: both are
  // the connection's fault and transient.
  assertConnectionFailure(
    only(await session.send({ ...envelope, message })),
    "4.4.2",
    /phase 'data(Block|End)'/,
  );
  assert.equal(session.usable, false);
});

Deno.test("SmtpSession.send() classifies a hang-up after the message instead of the final reply", async () => {
  await using peer = startScriptedPeer(hangUpInData(async (link) => {
    await link.readData();
    link.close();
  }));
  const session = await mustConnect(peer.port, testOptions());
  assertConnectionFailure(
    only(await session.send(envelope)),
    "4.4.2",
    /closed by the peer in phase 'dataEnd'/,
  );
});

Deno.test("SmtpSession.send() classifies 421 as the final reply as a connection failure", async () => {
  await using peer = startScriptedPeer(esmtp({ end: "421 4.4.2 Timeout, closing" }));
  const session = await mustConnect(peer.port, testOptions());
  const outcome = only(await session.send(envelope));
  assert.deepEqual(outcome, {
    kind: "transient",
    scope: "connection",
    code: 421,
    enhanced: "4.4.2",
    text: "Timeout, closing",
    source: "peer",
  });
  assert.equal(session.usable, false);
});
