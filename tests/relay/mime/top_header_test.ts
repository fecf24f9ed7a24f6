import assert from "node:assert/strict";
import { prependHeader, replaceHeader } from "../../../relay/mime/top_header.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("prependHeader() puts the field first and copies the rest byte for byte", () => {
  const message = bytes("From: a@example.com\r\n\r\nbody \u00e9\r\n");
  const out = prependHeader(message, "X-Ferry-Id", "42");
  assert.equal(text(out), "X-Ferry-Id: 42\r\nFrom: a@example.com\r\n\r\nbody \u00e9\r\n");
});

Deno.test("prependHeader() keeps a value that is already folded", () => {
  const out = prependHeader(bytes("A: 1\r\n\r\n"), "DKIM-Signature", "v=1;\r\n\tb=abc");
  assert.equal(text(out), "DKIM-Signature: v=1;\r\n\tb=abc\r\nA: 1\r\n\r\n");
});

Deno.test("prependHeader() refuses a bad name or a value that would inject fields", () => {
  const message = bytes("A: 1\r\n\r\n");
  assert.throws(() => prependHeader(message, "Bad Name", "x"), /name must be printable/);
  assert.throws(() => prependHeader(message, "X:Y", "x"), /name must be printable/);
  assert.throws(
    () => prependHeader(message, "X-A", "1\r\nBcc: victim@example.com"),
    /Cannot add header field "X-A" as its value has a CR, LF or NUL/,
  );
  assert.throws(() => prependHeader(message, "X-A", "1\nX: 2"), /CR, LF or NUL/);
});

Deno.test("replaceHeader() removes every earlier field of that name, continuation lines included", () => {
  const message = bytes(
    "X-Old: one\r\n folded\r\nFrom: a@example.com\r\nx-old: two\r\n\r\nX-Old: body line\r\n",
  );
  const out = replaceHeader(message, "X-Old", "new");
  assert.equal(
    text(out),
    "X-Old: new\r\nFrom: a@example.com\r\n\r\nX-Old: body line\r\n",
  );
});

Deno.test("replaceHeader() works on bare-LF messages and messages without a body", () => {
  assert.equal(
    text(replaceHeader(bytes("A: 1\nB: 2\n\nbody\n"), "a", "9")),
    "a: 9\r\nB: 2\n\nbody\n",
  );
  assert.equal(text(replaceHeader(bytes("A: 1\r\nB: 2\r\n"), "B", "9")), "B: 9\r\nA: 1\r\n");
});
