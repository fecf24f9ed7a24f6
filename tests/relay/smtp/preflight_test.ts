/**
 * What is decided before a byte of the message is sent: SIZE (RFC 1870), 998-octet lines
 * (RFC 5321 §4.5.3.1.6), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531) and unsafe addresses; and what
 * the peer receives when the message goes: normalised line ends and dot-stuffing undone.
 */
import assert from "node:assert/strict";
import { esmtp, startScriptedPeer } from "../../_fakes/scripted_smtp_peer.ts";
import { decoder, encoder, mustConnect, only, simpleMessage, testOptions } from "./_helpers.ts";
import { startSmtpServer } from "./_smtp_server.ts";

const base = { mailFrom: "sender@ferry.test", recipients: ["rcpt@peer.test"] };

function sentVerbs(lines: readonly string[]): string[] {
  return lines.map((l) => l.split(/[ :]/)[0]!);
}

Deno.test("SmtpSession.send() fails a message over the peer's SIZE permanently without sending it", async () => {
  await using peer = startScriptedPeer(
    esmtp({ ehlo: ["250-peer.test", "250-PIPELINING", "250 SIZE 1000"] }),
  );
  const session = await mustConnect(peer.port, testOptions());
  const outcome = only(
    await session.send({ ...base, message: simpleMessage("x".repeat(990) + "\r\n") }),
  );
  assert.deepEqual(
    [
      outcome.kind,
      outcome.kind !== "delivered" && outcome.scope,
      outcome.code,
      outcome.enhanced,
      outcome.source,
    ],
    ["permanent", "message", 552, "5.3.4", "local"],
  );
  assert.ok(session.usable);
  await session.quit();
  assert.deepEqual(sentVerbs(peer.links[0]!.lines), ["EHLO", "QUIT"]);
});

Deno.test("SmtpSession.send() declares SIZE and smtp-server enforces it too", async () => {
  await using server = await startSmtpServer({ size: 5000 });
  const options = testOptions();
  const session = await mustConnect(server.port, options);
  assert.equal(session.capabilities.size, 5000);
  const message = simpleMessage();
  assert.equal(only(await session.send({ ...base, message })).kind, "delivered");
  assert.equal(
    only(
      await session.send({ ...base, message: simpleMessage("z".repeat(900) + "\r\n".repeat(6)) }),
    ).kind,
    "delivered",
  );
  const tooBig = only(
    await session.send({ ...base, message: simpleMessage(("z".repeat(900) + "\r\n").repeat(6)) }),
  );
  assert.deepEqual([tooBig.kind, tooBig.code], ["permanent", 552]);
  await session.quit();
  assert.ok(
    options.transcript.some((e) =>
      e.line === `MAIL FROM:<sender@ferry.test> SIZE=${message.length}`
    ),
  );
  assert.equal(server.messages.length, 2);
});

Deno.test("SmtpSession.send() refuses lines over 998 octets and sends exactly 998 intact", async () => {
  await using server = await startSmtpServer();
  const session = await mustConnect(server.port, testOptions());
  const long = only(
    await session.send({ ...base, message: simpleMessage("a".repeat(999) + "\r\n") }),
  );
  assert.deepEqual([long.kind, long.code, long.enhanced], ["permanent", 554, "5.6.0"]);
  assert.match(long.text, /line 5 is 999 octets long/);
  const exact = simpleMessage("b".repeat(998) + "\r\n." + "c".repeat(997) + "\r\n");
  assert.equal(only(await session.send({ ...base, message: exact })).kind, "delivered");
  await session.quit();
  assert.equal(server.messages.length, 1);
  assert.deepEqual(server.messages[0]!.content, exact);
});

Deno.test("SmtpSession.send() normalises bare LF and CR and undoes nothing else", async () => {
  await using server = await startSmtpServer();
  const session = await mustConnect(server.port, testOptions());
  const raw = "Subject: lf\n\nline one\n.dot line\r\n..two dots\rcr only\n.\nend";
  const normalised =
    "Subject: lf\r\n\r\nline one\r\n.dot line\r\n..two dots\r\ncr only\r\n.\r\nend\r\n";
  assert.equal(
    only(await session.send({ ...base, message: encoder.encode(raw) })).kind,
    "delivered",
  );
  await session.quit();
  assert.equal(decoder.decode(server.messages[0]!.content), normalised);
});

Deno.test("SmtpSession.send() declares BODY=8BITMIME for 8-bit content, and fails it without 8BITMIME", async () => {
  const body = simpleMessage("Grüße aus Köln — ✉\r\n");
  await using server = await startSmtpServer();
  const options = testOptions();
  const session = await mustConnect(server.port, options);
  assert.equal(only(await session.send({ ...base, message: body })).kind, "delivered");
  await session.quit();
  assert.ok(
    options.transcript.some((e) => /^MAIL FROM:<sender@ferry\.test> BODY=8BITMIME$/.test(e.line)),
  );
  assert.deepEqual(server.messages[0]!.content, body);

  await using plain = startScriptedPeer(esmtp({ ehlo: ["250-peer.test", "250 PIPELINING"] }));
  const old = await mustConnect(plain.port, testOptions());
  const outcome = only(await old.send({ ...base, message: body }));
  assert.deepEqual([outcome.kind, outcome.code, outcome.enhanced], ["permanent", 554, "5.6.3"]);
  await old.quit();
});

Deno.test("SmtpSession.send() uses SMTPUTF8 for a UTF-8 address when the peer offers it", async () => {
  await using server = await startSmtpServer();
  const options = testOptions();
  const session = await mustConnect(server.port, options);
  assert.equal(session.capabilities.smtpUtf8, true);
  const message = encoder.encode("Subject: Grüße\r\nTo: jürgen@bücher.test\r\n\r\nHallo\r\n");
  const outcomes = await session.send({
    mailFrom: "sender@ferry.test",
    recipients: ["jürgen@bücher.test"],
    message,
  });
  assert.equal(outcomes[0]!.outcome.kind, "delivered");
  await session.quit();
  assert.ok(options.transcript.some((e) => / BODY=8BITMIME SMTPUTF8$/.test(e.line)));
  assert.deepEqual(server.messages[0]!.recipients, ["jürgen@bücher.test"]);
  assert.deepEqual(server.messages[0]!.content, message);
});

Deno.test("SmtpSession.send() fails what needs SMTPUTF8 permanently when the peer lacks it", async () => {
  const received: Uint8Array[] = [];
  await using peer = startScriptedPeer(esmtp({
    ehlo: ["250-peer.test", "250-PIPELINING", "250 8BITMIME"],
    onMessage: (m) => received.push(m),
  }));
  const options = testOptions();
  const session = await mustConnect(peer.port, options);
  const ascii = simpleMessage();
  // One UTF-8 recipient among ASCII ones: only that recipient fails (RFC 6531 §3.7.4.1).
  const mixed = await session.send({
    ...base,
    recipients: ["ok@peer.test", "jürgen@peer.test"],
    message: ascii,
  });
  assert.equal(mixed[0]!.outcome.kind, "delivered");
  assert.deepEqual([mixed[1]!.outcome.kind, mixed[1]!.outcome.code, mixed[1]!.outcome.enhanced], [
    "permanent",
    553,
    "5.6.7",
  ]);
  // A UTF-8 sender or UTF-8 headers need it for the whole message.
  const sender = only(
    await session.send({ ...base, mailFrom: "jürgen@ferry.test", message: ascii }),
  );
  assert.deepEqual([sender.kind, sender.enhanced], ["permanent", "5.6.7"]);
  const headers = only(
    await session.send({ ...base, message: encoder.encode("Subject: Grüße\r\n\r\nHi\r\n") }),
  );
  assert.deepEqual([headers.kind, headers.enhanced], ["permanent", "5.6.9"]);
  await session.quit();
  assert.equal(received.length, 1);
  assert.ok(!options.transcript.some((e) => e.line.includes("SMTPUTF8")));
});

Deno.test("SmtpSession.send() never puts an address with CR, LF or brackets on the wire", async () => {
  await using peer = startScriptedPeer(esmtp());
  const session = await mustConnect(peer.port, testOptions());
  const outcomes = await session.send({
    ...base,
    recipients: ["evil@peer.test>\r\nRSET", "good@peer.test"],
    message: simpleMessage(),
  });
  assert.deepEqual([outcomes[0]!.outcome.kind, outcomes[0]!.outcome.enhanced], [
    "permanent",
    "5.1.3",
  ]);
  assert.equal(outcomes[1]!.outcome.kind, "delivered");
  const bad = only(await session.send({ ...base, mailFrom: "x@y\nz", message: simpleMessage() }));
  assert.deepEqual([bad.kind, bad.enhanced], ["permanent", "5.1.7"]);
  await session.quit();
  assert.deepEqual(sentVerbs(peer.links[0]!.lines), ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]);
});

Deno.test("SmtpSession.send() sends the null sender of a bounce as MAIL FROM:<>", async () => {
  await using server = await startSmtpServer();
  const session = await mustConnect(server.port, testOptions());
  assert.equal(
    only(await session.send({ ...base, mailFrom: "", message: simpleMessage() })).kind,
    "delivered",
  );
  await session.quit();
  assert.equal(server.messages[0]!.mailFrom, "");
});
