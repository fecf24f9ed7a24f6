/**
 * Against a real Postfix from Debian as receiving MX (STARTTLS on a certificate from the test
 * CA, SMTPUTF8, delivery into a Maildir): the bytes that arrive are the bytes sent, compared by
 * SHA-256 at the receiver. Postfix stores mail with LF line ends, so the expectation is the
 * CRLF-normalised message with CRLF turned into LF, found at the end of the delivered file after
 * the trace headers Postfix prepends (Return-Path, Delivered-To, Received).
 */
import assert from "node:assert/strict";
import { hasPostfix, startPostfix } from "../../_peers/postfix.ts";
import { hasOpenssl, testPki } from "../tls/_test_certs.ts";
import { decoder, encoder, mustConnect, sha256, testOptions } from "./_helpers.ts";
import { requirePeer } from "../../_support/peers.ts";

/** What Postfix stores for `message`: line ends normalised, then as LF. */
function storedForm(message: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < message.length; i++) {
    const b = message[i]!;
    if (b === 0x0d) {
      if (message[i + 1] === 0x0a) i++;
      out.push(0x0a);
    } else out.push(b);
  }
  if (out.length > 0 && out[out.length - 1] !== 0x0a) out.push(0x0a);
  return Uint8Array.from(out);
}

async function assertArrivedIntact(
  delivered: Uint8Array[],
  message: Uint8Array,
  what: string,
): Promise<void> {
  const expected = storedForm(message);
  const hash = await sha256(expected);
  for (const file of delivered) {
    if (file.length < expected.length) continue;
    const tail = file.subarray(file.length - expected.length);
    if (await sha256(tail) !== hash) continue;
    const added = decoder.decode(file.subarray(0, file.length - expected.length));
    assert.match(added, /^Return-Path: /, `${what}: only Postfix's trace headers come before it`);
    return;
  }
  assert.fail(
    `${what}: no delivered message ends with the ${expected.length} expected octets (sha256 ${hash})`,
  );
}

function message(subject: string, body: string | Uint8Array, to = "rcpt@mx.test"): Uint8Array {
  const head = encoder.encode(
    `From: sender@ferry.test\r\nTo: ${to}\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`,
  );
  const tail = typeof body === "string" ? encoder.encode(body) : body;
  const out = new Uint8Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}

function twentyMegabytes(): Uint8Array {
  const line = encoder.encode(
    "0123456789abcdefghijklmnopqrstuvwxyz ÄÖÜ äöü ß — the quick brown fox\r\n",
  );
  const body = new Uint8Array(20 * 1024 * 1024 - (20 * 1024 * 1024) % line.length);
  for (let off = 0; off < body.length; off += line.length) body.set(line, off);
  return message("twenty megabytes", body);
}

Deno.test({
  name: "SmtpSession.send() delivers intact bytes into a real Postfix over STARTTLS",
  ignore: requirePeer("postfix", !hasPostfix || !hasOpenssl),
  async fn(t) {
    const pki = await testPki();
    await using postfix = await startPostfix({
      tls: { certFile: pki.certFile, keyFile: pki.keyFile },
    });
    const options = testOptions({
      peerName: "mx.test",
      tlsPolicy: "verified",
      caCerts: [pki.caPem],
    });
    const session = await mustConnect(postfix.port, options);
    assert.equal(session.tls, true);
    assert.equal(session.capabilities.smtpUtf8, true);
    assert.equal(session.capabilities.pipelining, true);

    const cases: [string, Uint8Array, string[]][] = [];
    const send = async (
      name: string,
      msg: Uint8Array,
      recipients = ["rcpt@mx.test"],
      mailFrom = "sender@ferry.test",
    ) => {
      const outcomes = await session.send({ mailFrom, recipients, message: msg });
      for (const { recipient, outcome } of outcomes) {
        assert.equal(
          outcome.kind,
          "delivered",
          `${name} to ${recipient}: ${JSON.stringify(outcome)}\n${await postfix.log()}`,
        );
      }
      cases.push([name, msg, recipients]);
    };

    await t.step(
      "an 8-bit UTF-8 body",
      () =>
        send(
          "8-bit",
          message(
            "Grüße",
            "Grüße aus Köln! Ça va? 日本語のテキスト ✉️\r\nZweite Zeile — mit Gedankenstrich.\r\n",
          ),
        ),
    );
    await t.step(
      "lines beginning with '.'",
      () =>
        send(
          "dots",
          message("dots", ".\r\n..\r\n.leading dot\r\n...three\r\nmiddle\r\n.\r\nend .\r\n."),
        ),
    );
    await t.step(
      "lines of exactly 998 octets",
      () =>
        send(
          "998",
          message("998", `${"x".repeat(998)}\r\n.${"y".repeat(997)}\r\n${"ä".repeat(499)}\r\n`),
        ),
    );
    await t.step(
      "a raw message with bare LF and bare CR",
      () =>
        send(
          "bare LF",
          encoder.encode(
            "From: sender@ferry.test\nTo: rcpt@mx.test\nSubject: bare\n\nline\n.\n..x\rcr\n",
          ),
        ),
    );
    await t.step(
      "a UTF-8 address over SMTPUTF8",
      () =>
        send("utf-8 address", message("Grüße", "Hallo Jürgen\r\n", "jürgen@mx.test"), [
          "jürgen@mx.test",
        ], "sénder@ferry.test"),
    );
    await t.step(
      "several recipients in one transaction",
      () => send("two recipients", message("two", "for both\r\n"), ["one@mx.test", "two@mx.test"]),
    );
    await t.step("a 20 MB message", () => send("20 MB", twentyMegabytes()));

    assert.equal(session.transactions, cases.length);
    await session.quit();

    const total = cases.reduce((n, [, , recipients]) => n + recipients.length, 0);
    const delivered = await postfix.delivered(total);
    for (const [name, msg] of cases) await assertArrivedIntact(delivered, msg, name);
    // Postfix records TLS in its Received header (smtpd_tls_received_header).
    const first = decoder.decode(delivered[0]!.subarray(0, 2000));
    assert.match(first, /\(using TLSv1\.[23] with cipher/);
    assert.match(first, /with (ESMTPS|UTF8SMTPS) /);
    // One connection carried everything: STARTTLS, a fresh EHLO, then one transaction per case,
    // its content in one BDAT chunk since Postfix offers CHUNKING (RFC 3030), never DATA.
    assert.equal(session.capabilities.chunking, true);
    const log = await postfix.log();
    assert.match(
      log,
      new RegExp(
        `ehlo=2 starttls=1 mail=${cases.length} rcpt=${total} bdat=${cases.length} quit=1`,
      ),
    );
  },
});
