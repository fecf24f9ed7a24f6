import assert from "node:assert/strict";
import { canonicalLineEnds, longestLine } from "../../../relay/mime/canonical_lines.ts";
import {
  cleanRawMessage,
  rawMessageProblem,
  rfc5322Date,
} from "../../../relay/mime/raw_cleanup.ts";
import { encodeData } from "../../../relay/smtp/data_encoder.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("canonicalLineEnds() turns every bare CR and bare LF into CRLF and keeps CRLF", () => {
  assert.equal(
    dec(canonicalLineEnds(enc("a\rb\nc\r\nd\r\r\ne\n\r"))),
    "a\r\nb\r\nc\r\nd\r\n\r\ne\r\n\r\n",
  );
  const clean = enc("a\r\nb\r\n");
  assert.equal(canonicalLineEnds(clean), clean, "the same array when nothing changes");
});

Deno.test("canonicalLineEnds() output passes the DATA encoder unchanged but for dot-stuffing", () => {
  for (const text of ["a\rb\nc\r\n", "x\r\r\n\n.y\r.z\n", "no end", "\r\n\r\n"]) {
    const canonical = canonicalLineEnds(enc(text));
    const wire = [...encodeData(canonical)].map(dec).join("");
    const expected = dec(canonical).replace(/(^|\r\n)\./g, "$1..");
    const body = expected.endsWith("\r\n") || expected === "" ? expected : `${expected}\r\n`;
    assert.equal(wire, `${body}.\r\n`, JSON.stringify(text));
  }
});

Deno.test("longestLine() measures octets between line ends of any kind", () => {
  assert.equal(longestLine(enc("ab\r\ncdef\rg\nhij")), 4);
  assert.equal(longestLine(enc("x".repeat(999))), 999);
  assert.equal(longestLine(new Uint8Array()), 0);
});

Deno.test("rawMessageProblem() refuses a broken header block, no From, or a line over 998 octets", () => {
  const ok = "From: a@x.test\r\nTo: b@y.test\r\n folded\r\nSubject: s\r\n\r\nbody\r\n";
  assert.equal(rawMessageProblem(enc(ok)), undefined);
  assert.equal(
    rawMessageProblem(enc("From: a@x.test\r\n")),
    undefined,
    "headers only is a message",
  );
  assert.match(rawMessageProblem(enc("To: b@y.test\r\n\r\nbody\r\n"))!, /no From header field/);
  assert.match(
    rawMessageProblem(enc("From: a@x.test\r\nnot a header\r\n\r\nbody\r\n"))!,
    /header line 2 is not a header field/,
  );
  assert.match(
    rawMessageProblem(enc(" From: a@x.test\r\n\r\nb\r\n"))!,
    /starts with a folded line/,
  );
  assert.match(
    rawMessageProblem(enc(`From: a@x.test\r\n\r\n${"y".repeat(2000)}\r\n`))!,
    /a line of 2000 octets; SMTP allows at most 998/,
  );
  assert.equal(rawMessageProblem(enc(`From: a@x.test\r\n\r\n${"y".repeat(998)}\r\n`)), undefined);
});

Deno.test("cleanRawMessage() removes Bcc and Resent-Bcc and adds Date and Message-ID once", () => {
  const date = new Date(Date.UTC(2026, 11, 4, 2, 33, 7));
  const add = { messageId: "<ferry.1.abc@relay.test>", date };
  const raw = "From: a@x.test\r\nBcc: hidden@y.test,\r\n other@z.test\r\nTo: b@y.test\r\n" +
    "Resent-Bcc: r@y.test\r\nSubject: s\r\n\r\nBcc: in the body stays\r\n";
  const out = dec(cleanRawMessage(enc(raw), add));
  assert.equal(
    out,
    "From: a@x.test\r\nTo: b@y.test\r\nSubject: s\r\n" +
      "Date: Fri, 04 Dec 2026 02:33:07 +0000\r\nMessage-ID: <ferry.1.abc@relay.test>\r\n" +
      "\r\nBcc: in the body stays\r\n",
  );
  // Present ones are kept as they are, and a clean message is returned as is.
  const whole = enc(
    "From: a@x.test\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
      "Message-ID: <own@x.test>\r\n\r\nb\r\n",
  );
  assert.equal(cleanRawMessage(whole, add), whole);
  // Applying it twice changes nothing more.
  assert.equal(dec(cleanRawMessage(enc(out), add)), out);
});

Deno.test("rfc5322Date() writes RFC 5322 date-time in UTC", () => {
  assert.equal(
    rfc5322Date(new Date(Date.UTC(2030, 0, 5, 9, 4, 3))),
    "Sat, 05 Jan 2030 09:04:03 +0000",
  );
});
