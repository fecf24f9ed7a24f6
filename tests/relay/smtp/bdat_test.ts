/**
 * BDAT (RFC 3030) against a real Postfix from Debian, which offers CHUNKING and PIPELINING: the
 * whole transaction goes in one write (envelope, `BDAT <n> LAST`, the chunk), no DATA and no
 * 354; the chunk carries the message without dot-stuffing, and the bytes Postfix stores are the
 * ones DATA would have delivered (line ends normalised to CRLF, dot lines as they are). A
 * transaction whose every recipient is refused still sends its chunk (the peer must read it),
 * and the next transaction on the same connection goes through.
 */
import assert from "node:assert/strict";
import { hasPostfix, startPostfix } from "../../_peers/postfix.ts";
import { decoder, encoder, mustConnect, testOptions } from "./_helpers.ts";
import { requirePeer } from "../../_support/peers.ts";
import { crlfContent, scanMessage } from "../../../relay/smtp/mod.ts";

/** What Postfix stores (Maildir, LF line ends) for what it was sent. */
function stored(message: Uint8Array): string {
  const canonical = crlfContent(message, scanMessage(message).canonical);
  return decoder.decode(canonical).replaceAll("\r\n", "\n");
}

const HEAD = "From: sender@ferry.test\r\nTo: rcpt@mx.test\r\nSubject: ";

const CASES: Record<string, string> = {
  dots: `${HEAD}dots\r\n\r\n.\r\n..\r\n.leading dot\r\n...three\r\nmiddle\r\n.\r\nend .\r\n.`,
  "bare LF and CR": `${HEAD}bare\n\nline\n.\n..x\rcr\r\r\n.\rend`,
  "a lone dot last": `${HEAD}last\r\n\r\nbody\r\n.\r\n`,
  "8-bit": `${HEAD}Grüße\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße ✉\r\n`,
};

Deno.test({
  name: "SmtpSession.send() sends BDAT to a peer offering CHUNKING and the bytes arrive intact",
  ignore: requirePeer("postfix", !hasPostfix),
  async fn() {
    await using postfix = await startPostfix();
    const options = testOptions({ peerName: "mx.test", tlsPolicy: "opportunistic" });
    const session = await mustConnect(postfix.port, options);
    assert.equal(session.capabilities.chunking, true);
    assert.equal(session.capabilities.pipelining, true);
    for (const [name, text] of Object.entries(CASES)) {
      const outcomes = await session.send({
        mailFrom: "sender@ferry.test",
        recipients: ["rcpt@mx.test"],
        message: encoder.encode(text),
      });
      assert.equal(outcomes[0]!.outcome.kind, "delivered", `${name}: ${JSON.stringify(outcomes)}`);
    }
    await session.quit();

    const out = options.transcript.filter((e) => e.direction === "out").map((e) => e.line);
    assert.ok(!out.includes("DATA"), `no DATA: ${out.join(" | ")}`);
    const bdat = out.filter((l) => l.startsWith("BDAT "));
    assert.deepEqual(
      bdat,
      Object.values(CASES).map((t) => `BDAT ${scanMessage(encoder.encode(t)).size} LAST`),
    );
    const delivered = (await postfix.delivered(Object.keys(CASES).length)).map((f) =>
      decoder.decode(f)
    );
    for (const [name, text] of Object.entries(CASES)) {
      const expected = stored(encoder.encode(text));
      assert.ok(
        delivered.some((f) => f.endsWith(`\n${expected}`)),
        `${name}: no delivered message ends with ${JSON.stringify(expected)}\n${
          delivered.join("\n----\n")
        }`,
      );
    }
    assert.match(await postfix.log(), /mail=4 rcpt=4 bdat=4 quit=1/);
  },
});

Deno.test({
  name:
    "SmtpSession.send() over BDAT: refused recipients end the transaction, the next goes through",
  ignore: requirePeer("postfix", !hasPostfix),
  async fn() {
    await using postfix = await startPostfix({
      refusedRecipients: ["a@mx.test", "b@mx.test", "c@mx.test"],
    });
    const options = testOptions({ peerName: "mx.test", tlsPolicy: "opportunistic" });
    const session = await mustConnect(postfix.port, options);
    const message = encoder.encode(`${HEAD}refused\r\n\r\n.\r\nbody\r\n`);
    const refused = await session.send({
      mailFrom: "sender@ferry.test",
      recipients: ["a@mx.test", "b@mx.test"],
      message,
    });
    assert.deepEqual(refused.map((r) => [r.outcome.kind, r.outcome.code]), [
      ["permanent", 550],
      ["permanent", 550],
    ]);
    const mixed = await session.send({
      mailFrom: "sender@ferry.test",
      recipients: ["c@mx.test", "rcpt@mx.test"],
      message,
    });
    assert.deepEqual(mixed.map((r) => r.outcome.kind), ["permanent", "delivered"]);
    await session.quit();
    const [file] = await postfix.delivered(1);
    assert.ok(decoder.decode(file).endsWith(`\n${stored(message)}`));
    assert.match(await postfix.log(), /mail=2 rcpt=1\/4 bdat=1\/2 rset=1 quit=1/);
  },
});

Deno.test({
  name: "SmtpSession.send() over BDAT in lock-step: the chunk only after an accepted recipient",
  ignore: requirePeer("postfix", !hasPostfix),
  async fn() {
    await using postfix = await startPostfix({
      refusedRecipients: ["a@mx.test"],
      discardEhloKeywords: ["pipelining"],
    });
    const options = testOptions({ peerName: "mx.test", tlsPolicy: "opportunistic" });
    const session = await mustConnect(postfix.port, options);
    assert.equal(session.capabilities.pipelining, false);
    assert.equal(session.capabilities.chunking, true);
    const message = encoder.encode(CASES["bare LF and CR"]!);
    const refused = await session.send({
      mailFrom: "sender@ferry.test",
      recipients: ["a@mx.test"],
      message,
    });
    assert.deepEqual(refused.map((r) => r.outcome.kind), ["permanent"]);
    const delivered = await session.send({
      mailFrom: "sender@ferry.test",
      recipients: ["a@mx.test", "rcpt@mx.test"],
      message,
    });
    assert.deepEqual(delivered.map((r) => r.outcome.kind), ["permanent", "delivered"]);
    await session.quit();
    const [file] = await postfix.delivered(1);
    assert.ok(decoder.decode(file).endsWith(`\n${stored(message)}`));
    // No chunk for the transaction without recipients: one BDAT in all, never DATA.
    const out = options.transcript.filter((e) => e.direction === "out").map((e) => e.line);
    assert.equal(out.filter((l) => l.startsWith("BDAT ")).length, 1);
    assert.ok(!out.includes("DATA"));
    assert.match(await postfix.log(), /mail=2 rcpt=1\/3 bdat=1 rset=1 quit=1/);
  },
});
