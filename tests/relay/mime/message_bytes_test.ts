import assert from "node:assert/strict";
import { analyseMessage, bodyStart, headerValues } from "../../../relay/mime/message_bytes.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("bodyStart() finds the end of the header section with CRLF or bare LF lines", () => {
  assert.equal(bodyStart(bytes("A: 1\r\nB: 2\r\n\r\nbody")), 14);
  assert.equal(bodyStart(bytes("A: 1\nB: 2\n\nbody")), 11);
  assert.equal(bodyStart(bytes("\r\nonly body")), 2);
  assert.equal(bodyStart(bytes("\nonly body")), 1);
  assert.equal(bodyStart(bytes("A: 1\r\nB: 2\r\n")), 12, "no empty line: all header");
});

Deno.test("headerValues() unfolds every field of that name, ignoring case and the body", () => {
  const message = bytes(
    "Received: one\r\nSUBJECT: first\r\n line\r\nsubject:\tsecond\r\n\r\nSubject: in body\r\n",
  );
  assert.deepEqual(headerValues(message, "Subject"), ["first line", "second"]);
  assert.deepEqual(headerValues(message, "x-missing"), []);
});

Deno.test("analyseMessage() asks for 8BITMIME for 8-bit octets and SMTPUTF8 for 8-bit headers", () => {
  assert.deepEqual(analyseMessage(bytes("Subject: hi\r\n\r\nplain\r\n")), {
    needs8BitMime: false,
    needsSmtpUtf8: false,
    size: 22,
  });
  const body8 = analyseMessage(bytes("Subject: hi\r\n\r\ncafé\r\n"));
  assert.deepEqual([body8.needs8BitMime, body8.needsSmtpUtf8], [true, false]);
  const header8 = analyseMessage(bytes("To: jörg@example.com\r\n\r\nplain\r\n"));
  assert.deepEqual([header8.needs8BitMime, header8.needsSmtpUtf8], [true, true]);
});
