/**
 * Peers that answer slower than RFC 5321 §4.5.3.2's timeouts, driven by a FakeClock: each phase
 * ends in a transient connection failure after exactly its timeout, nothing real is waited for,
 * and no socket or timer is left behind.
 */
import assert from "node:assert/strict";
import { connectSmtp, DEFAULT_TIMEOUTS, type Outcome } from "../../../relay/smtp/mod.ts";
import { esmtp, type PeerLink, startScriptedPeer } from "../../_fakes/scripted_smtp_peer.ts";
import { drive, encoder, only, simpleMessage, testOptions } from "./_helpers.ts";

const STEP = 5_000;
const envelope = {
  mailFrom: "sender@ferry.test",
  recipients: ["rcpt@peer.test"],
  message: simpleMessage(),
};

/** Waits until the client hangs up: a silent peer's way of "never answering". */
async function silent(link: PeerLink): Promise<void> {
  while (await link.readLine() !== null) { /* ignore everything */ }
}

function assertTimedOut(outcome: Outcome, phase: string): void {
  assert.equal(outcome.kind, "transient");
  if (outcome.kind !== "transient") return;
  assert.equal(outcome.scope, "connection");
  assert.equal(outcome.enhanced, "4.4.2");
  assert.match(outcome.text, new RegExp(`phase '${phase}'`));
}

Deno.test("connectSmtp() times out after 5 minutes without a greeting", async () => {
  await using peer = startScriptedPeer(silent);
  const options = testOptions({ timeouts: { connect: 3_600_000 } });
  const start = options.clock.now();
  const opened = await drive(options.clock, connectSmtp("127.0.0.1", peer.port, options), STEP);
  assert.equal(opened.kind, "failed");
  if (opened.kind === "failed") assertTimedOut(opened.failure, "greeting");
  const waited = options.clock.now() - start;
  assert.ok(
    waited >= DEFAULT_TIMEOUTS.greeting && waited <= DEFAULT_TIMEOUTS.greeting + 2 * STEP,
    `${waited}`,
  );
});

Deno.test("connectSmtp() times out after 5 minutes without an EHLO reply", async () => {
  await using peer = startScriptedPeer(async (link) => {
    await link.reply("220 slow.test ESMTP");
    await silent(link);
  });
  const options = testOptions({ timeouts: { connect: 3_600_000 } });
  const opened = await drive(options.clock, connectSmtp("127.0.0.1", peer.port, options), STEP);
  assert.equal(opened.kind, "failed");
  if (opened.kind === "failed") assertTimedOut(opened.failure, "ehlo");
});

Deno.test("connectSmtp() times out connecting after 30 seconds", async () => {
  const options = testOptions({
    connect: (_host, _port, signal) =>
      new Promise((_resolve, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason))
      ),
  });
  const start = options.clock.now();
  const opened = await drive(options.clock, connectSmtp("192.0.2.1", 25, options), 1_000);
  assert.equal(opened.kind, "failed");
  if (opened.kind === "failed") {
    assert.equal(opened.failure.kind, "transient");
    assert.equal(opened.failure.enhanced, "4.4.1");
  }
  assert.equal(options.clock.now() - start, DEFAULT_TIMEOUTS.connect);
});

/** A peer that answers normally until the stage `stop`, then says nothing more. */
function stallAt(stop: "MAIL" | "RCPT" | "DATA" | "END"): (link: PeerLink) => Promise<void> {
  return async (link) => {
    await link.reply("220 peer.test ESMTP");
    for (;;) {
      const line = await link.readLine();
      if (line === null) return;
      const verb = line.split(/[ :]/)[0];
      if (verb === "EHLO") await link.reply("250-peer.test", "250-PIPELINING", "250 8BITMIME");
      else if (verb === stop) return await silent(link);
      else if (verb === "MAIL" || verb === "RCPT") await link.reply("250 Ok");
      else if (verb === "DATA") {
        await link.reply("354 Go ahead");
        await link.readData();
        if (stop === "END") return await silent(link);
      }
    }
  };
}

for (
  const [stage, phase] of [
    ["MAIL", "mail"],
    ["RCPT", "rcpt"],
    ["DATA", "dataInit"],
    ["END", "dataEnd"],
  ] as const
) {
  Deno.test(`SmtpSession.send() times out in phase '${phase}' after its RFC 5321 timeout`, async () => {
    await using peer = startScriptedPeer(stallAt(stage));
    const options = testOptions({ timeouts: { connect: 3_600_000 } });
    const opened = await connectSmtp("127.0.0.1", peer.port, options);
    assert.equal(opened.kind, "ready");
    if (opened.kind !== "ready") return;
    const start = options.clock.now();
    const outcomes = await drive(options.clock, opened.session.send(envelope), STEP);
    assertTimedOut(outcomes[0]!.outcome, phase);
    const waited = options.clock.now() - start;
    const expected = DEFAULT_TIMEOUTS[phase];
    assert.ok(
      waited >= expected && waited <= expected + 2 * STEP,
      `waited ${waited}, expected ${expected}`,
    );
    assert.equal(opened.session.usable, false);
    await opened.session.quit();
  });
}

Deno.test("SmtpSession.send() times out in phase 'dataBlock' when the peer stops reading", async () => {
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  await using peer = startScriptedPeer(async (link) => {
    await link.reply("220 peer.test ESMTP");
    for (let i = 0; i < 5; i++) {
      const line = await link.readLine();
      if (line?.startsWith("EHLO")) {
        await link.reply("250-peer.test", "250-PIPELINING", "250 8BITMIME");
      } else if (line?.startsWith("DATA")) {
        await link.reply("354 Go ahead");
        await released; // and never read the content
        return;
      } else await link.reply("250 Ok");
    }
  });
  // Far more than loopback socket buffers hold, so a write must block.
  const line = encoder.encode("x".repeat(78) + "\r\n");
  const message = new Uint8Array(48 * 1024 * 1024);
  for (let off = 0; off + line.length <= message.length; off += line.length) message.set(line, off);
  const options = testOptions({ timeouts: { connect: 3_600_000 } });
  const opened = await connectSmtp("127.0.0.1", peer.port, options);
  if (opened.kind !== "ready") return assert.fail("expected a session");
  const outcomes = await drive(options.clock, opened.session.send({ ...envelope, message }), STEP);
  assertTimedOut(outcomes[0]!.outcome, "dataBlock");
  release();
});

Deno.test("SmtpSession.quit() gives up after 30 seconds without a 221 and closes", async () => {
  await using peer = startScriptedPeer(async (link) => {
    await link.reply("220 peer.test ESMTP");
    await link.readLine();
    await link.reply("250 peer.test");
    await silent(link);
  });
  const options = testOptions({ timeouts: { connect: 3_600_000 } });
  const opened = await connectSmtp("127.0.0.1", peer.port, options);
  if (opened.kind !== "ready") return assert.fail("expected a session");
  const start = options.clock.now();
  await drive(options.clock, opened.session.quit(), 1_000);
  assert.equal(options.clock.now() - start, DEFAULT_TIMEOUTS.quit);
  assert.equal(opened.session.usable, false);
});

Deno.test("SmtpSession.send() times each reply on its own, not the whole transaction", async () => {
  const options = testOptions({ timeouts: { connect: 3_600_000 } });
  const clock = options.clock;
  const MINUTE = 60_000;
  // Every reply comes a little before its own phase's timeout: 14 minutes in all.
  await using peer = startScriptedPeer(async (link) => {
    await link.reply("220 peer.test ESMTP");
    for (;;) {
      const line = await link.readLine();
      if (line === null) return;
      const verb = line.split(/[ :]/)[0];
      if (verb === "EHLO") await link.reply("250-peer.test", "250-PIPELINING", "250 8BITMIME");
      else if (verb === "MAIL" || verb === "RCPT") {
        await clock.sleep(4 * MINUTE);
        await link.reply("250 Ok");
      } else if (verb === "DATA") {
        await clock.sleep(1.5 * MINUTE);
        await link.reply("354 Go ahead");
        await link.readData();
        await clock.sleep(9 * MINUTE);
        await link.reply("250 Queued");
      } else if (verb === "QUIT") return await link.reply("221 Bye");
    }
  });
  const opened = await connectSmtp("127.0.0.1", peer.port, options);
  if (opened.kind !== "ready") return assert.fail("expected a session");
  const start = clock.now();
  const outcomes = await drive(clock, opened.session.send(envelope), STEP);
  assert.equal(outcomes[0]!.outcome.kind, "delivered", JSON.stringify(outcomes));
  assert.ok(clock.now() - start >= 18.5 * MINUTE);
  await opened.session.quit();
});

Deno.test("SmtpSession holds no timer between its operations", async () => {
  await using peer = startScriptedPeer(esmtp());
  const options = testOptions();
  const opened = await connectSmtp("127.0.0.1", peer.port, options);
  if (opened.kind !== "ready") return assert.fail("expected a session");
  assert.equal(options.clock.pending, 0, "after the opening dialogue");
  for (let i = 0; i < 3; i++) {
    assert.equal(only(await opened.session.send(envelope)).kind, "delivered");
    assert.equal(options.clock.pending, 0, `after transaction ${i + 1}`);
  }
  assert.equal(await opened.session.reset(), undefined);
  assert.equal(options.clock.pending, 0, "after RSET");
  await opened.session.quit();
  assert.equal(options.clock.pending, 0, "after QUIT");
});
