import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type AddressObject, simpleParser } from "mailparser";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import {
  composeMessage,
  type ComposeResult,
  crlfLineEnds,
  type OutboxMessage,
} from "../../../relay/mime/compose.ts";

const CREATED = Date.UTC(2026, 2, 14, 15, 9, 26);
const options = { messageIdDomain: "relay.example", clock: new FakeClock(Date.UTC(2030, 0, 1)) };

const ROW: OutboxMessage = {
  id: 42n,
  from: "Zoë Ünïcode <zoe@example.com>",
  to: ["bob@example.net", "Ärger Ölfass <joerg@bücher.example>"],
  cc: ["carol@example.org"],
  bcc: ["secret-bcc@example.org"],
  replyTo: "replies@example.com",
  subject: "Grüße aus Köln — a subject long enough that it has to be folded over lines",
  text: "Hallo Welt,\nzweite Zeile mit Ümläuten.\n.a line starting with a dot\n",
  html: "<p>Hallo <b>Welt</b> — ü</p>",
  headers: { "X-Campaign": "spring ☀", "List-Unsubscribe": "<mailto:unsub@example.com>" },
  createdAt: new Date(CREATED),
};

function composed(result: ComposeResult) {
  assert.equal(result.kind, "composed", result.kind === "invalid" ? result.reason : "");
  if (result.kind !== "composed") throw new Error("unreachable");
  return result.message;
}

function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

function addresses(field: AddressObject | AddressObject[] | undefined) {
  return [field ?? []].flat().flatMap((a) => a.value).map((v) => [v.name, v.address]);
}

Deno.test("composeMessage() builds a multipart/alternative message that parses back to its fields", async () => {
  const message = composed(await composeMessage(ROW, options));
  const parsed = await simpleParser(Buffer.from(message.bytes));
  assert.deepEqual(addresses(parsed.from), [["Zoë Ünïcode", "zoe@example.com"]]);
  assert.deepEqual(addresses(parsed.to), [
    ["", "bob@example.net"],
    ["Ärger Ölfass", "joerg@bücher.example"], // mailparser decodes the A-label again
  ]);
  assert.ok(text(message.bytes).includes("<joerg@xn--bcher-kva.example>"));
  assert.deepEqual(addresses(parsed.cc), [["", "carol@example.org"]]);
  assert.deepEqual(addresses(parsed.replyTo), [["", "replies@example.com"]]);
  assert.equal(parsed.subject, ROW.subject);
  assert.equal(parsed.text, ROW.text);
  assert.equal(parsed.html, ROW.html);
  assert.equal(parsed.date?.getTime(), CREATED);
  assert.equal(parsed.messageId, message.messageId);
  assert.match(message.messageId ?? "", /^<ferry\.42\.[0-9a-f]{16}@relay\.example>$/);
  // mailparser leaves unknown fields encoded: the RFC 2047 form of "spring ☀".
  assert.equal(parsed.headers.get("x-campaign"), "=?UTF-8?Q?spring_=E2=98=80?=");
  const unsubscribe = parsed.headerLines.find((h: { key: string }) => h.key === "list-unsubscribe");
  assert.equal(unsubscribe?.line, "List-Unsubscribe: <mailto:unsub@example.com>");
  assert.equal(parsed.headers.get("mime-version"), "1.0");
  const contentType = parsed.headers.get("content-type") as { value: string };
  assert.equal(contentType.value, "multipart/alternative");
});

Deno.test("composeMessage() never writes Bcc into the message", async () => {
  const message = composed(await composeMessage(ROW, options));
  const parsed = await simpleParser(Buffer.from(message.bytes));
  assert.equal(parsed.bcc, undefined);
  assert.ok(!parsed.headerLines.some((h: { key: string }) => h.key === "bcc"));
  assert.ok(!text(message.bytes).includes("secret-bcc"));
});

Deno.test("composeMessage() encodes headers (RFC 2047) and bodies so the result is 7-bit with CRLF lines", async () => {
  const message = composed(await composeMessage(ROW, options));
  const raw = text(message.bytes);
  const head = raw.slice(0, raw.indexOf("\r\n\r\n"));
  assert.match(head, /^Subject: =\?UTF-8\?Q\?Gr=C3=BC=C3=9Fe/m);
  assert.match(head, /^From: =\?UTF-8\?Q\?Zo=C3=AB_=C3=9Cn=C3=AFcode\?= <zoe@example\.com>$/m);
  assert.match(raw, /Content-Transfer-Encoding: quoted-printable/);
  assert.ok(message.bytes.every((b) => b < 0x80), "every octet is 7-bit");
  assert.equal(message.needs8BitMime, false);
  assert.equal(message.needsSmtpUtf8, false);
  assert.equal(message.size, message.bytes.length);
  assert.ok(!/[^\r]\n/.test(raw), "no bare LF");
  assert.ok(raw.split("\r\n").every((line) => line.length <= 78), "lines fit in 78 octets");
});

Deno.test("composeMessage() picks base64 for a body that is mostly non-ASCII", async () => {
  const row = { ...ROW, html: null, text: "日本語のテキストです。".repeat(20) };
  const message = composed(await composeMessage(row, options));
  const raw = text(message.bytes);
  assert.match(raw, /^Content-Type: text\/plain; charset=utf-8\r$/m);
  assert.match(raw, /^Content-Transfer-Encoding: base64\r$/m);
  assert.equal((await simpleParser(Buffer.from(message.bytes))).text, row.text);
});

Deno.test("composeMessage() gives the same bytes every time for the same row", async () => {
  const first = composed(await composeMessage(ROW, options));
  const later = composed(
    await composeMessage(ROW, { ...options, clock: new FakeClock(Date.UTC(2031, 5, 6)) }),
  );
  assert.deepEqual(later.bytes, first.bytes);
  const other = composed(await composeMessage({ ...ROW, id: 43 }, options));
  assert.notEqual(other.messageId, first.messageId);
});

Deno.test("composeMessage() dates a row without created_at by the injected clock", async () => {
  const clock = new FakeClock(Date.UTC(2026, 6, 4, 12, 0, 0));
  const message = composed(
    await composeMessage({ ...ROW, createdAt: null }, { ...options, clock }),
  );
  assert.match(text(message.bytes), /^Date: Sat, 04 Jul 2026 12:00:00 \+0000\r$/m);
});

Deno.test("composeMessage() writes a single part when only one body is given", async () => {
  const onlyText = composed(await composeMessage({ ...ROW, html: null }, options));
  assert.match(text(onlyText.bytes), /^Content-Type: text\/plain; charset=utf-8\r$/m);
  const onlyHtml = composed(await composeMessage({ ...ROW, text: null }, options));
  assert.match(text(onlyHtml.bytes), /^Content-Type: text\/html; charset=utf-8\r$/m);
  assert.ok(!text(onlyHtml.bytes).includes("multipart"));
});

Deno.test("composeMessage() keeps an application's own Message-ID", async () => {
  const row = { ...ROW, headers: { "Message-ID": "<order-7@shop.example>" } };
  const message = composed(await composeMessage(row, options));
  assert.equal(message.messageId, "<order-7@shop.example>");
  assert.equal(
    (await simpleParser(Buffer.from(message.bytes))).messageId,
    "<order-7@shop.example>",
  );
});

Deno.test("composeMessage() flags SMTPUTF8 for a UTF-8 local part, in the headers or the envelope", async () => {
  const inHeader = composed(await composeMessage({ ...ROW, to: ["jörg@example.net"] }, options));
  assert.equal(inHeader.needsSmtpUtf8, true);
  assert.ok(text(inHeader.bytes).includes("To: jörg@example.net"));
  const onlyBcc = composed(await composeMessage({ ...ROW, bcc: ["jörg@example.net"] }, options));
  assert.equal(onlyBcc.needsSmtpUtf8, true);
  assert.ok(!text(onlyBcc.bytes).includes("jörg"));
});

Deno.test("composeMessage() refuses rows that cannot become a message, saying which field", async () => {
  const cases: [Partial<OutboxMessage>, RegExp][] = [
    [{ from: "not an address" }, /^from: /],
    [{ to: ["ok@example.com", "bad@@example.com"] }, /^to\[1\]: /],
    [{ cc: ["x"] }, /^cc\[0\]: /],
    [{ replyTo: "a@b" }, /^reply_to: /],
    [{ headers: { "X-Evil": "a\r\nBcc: victim@example.com" } }, /header injection/],
    [{ headers: { "Bad Name": "x" } }, /header name "Bad Name" is not a valid field name/],
    [{ headers: { "X-Number": 5 } }, /header X-Number must be a string/],
    [{ headers: { "Content-Type": "text/plain" } }, /header Content-Type cannot be set in headers/],
    [{ headers: { bcc: "x@example.com" } }, /header bcc cannot be set in headers/],
    [{ headers: { "Message-ID": "no-brackets" } }, /must look like <id@domain>/],
    [{ createdAt: new Date(NaN) }, /created_at is not a valid time/],
  ];
  for (const [change, reason] of cases) {
    const result = await composeMessage({ ...ROW, ...change }, options);
    assert.equal(result.kind, "invalid", JSON.stringify(change));
    assert.match(result.kind === "invalid" ? result.reason : "", reason);
  }
});

Deno.test("composeMessage() passes a raw message through byte for byte", async () => {
  const raw = new TextEncoder().encode(
    "From: a@example.com\nTo: b@example.net\nSubject: raw\nMessage-ID:\n <raw-1@example.com>\n\nbody \u00e9\n",
  );
  const message = composed(await composeMessage({ id: 1, from: "a@example.com", raw }, options));
  assert.deepEqual(message.bytes, raw);
  assert.equal(message.messageId, "<raw-1@example.com>");
  assert.equal(message.needs8BitMime, true);
  assert.equal(message.needsSmtpUtf8, false);
  assert.equal(message.size, raw.length);
});

Deno.test("composeMessage() refuses a raw message mixed with structured fields", async () => {
  const raw = new TextEncoder().encode("From: a@example.com\r\n\r\nx\r\n");
  const result = await composeMessage({ ...ROW, raw }, options);
  assert.deepEqual(result, {
    kind: "invalid",
    reason: "raw_message is set, so subject, text, html, headers must be empty",
  });
});

Deno.test("crlfLineEnds() turns bare LFs into CRLF and leaves everything else as it is", () => {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const same = enc.encode("a\r\nb\r\n");
  assert.equal(crlfLineEnds(same), same, "nothing to do: the same buffer");
  assert.equal(
    dec.decode(crlfLineEnds(enc.encode("\na\nb\r\nc\rd\n\n"))),
    "\r\na\r\nb\r\nc\rd\r\n\r\n",
  );
});
