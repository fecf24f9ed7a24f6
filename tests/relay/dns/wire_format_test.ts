import assert from "node:assert/strict";
import {
  decodeMessage,
  DnsFormatError,
  encodeName,
  encodeQuery,
  formatIpv6,
  TYPE_CODE,
} from "../../../relay/dns/wire_format.ts";

Deno.test("encodeQuery() writes one question with RD set and an EDNS(0) OPT record", () => {
  const query = encodeQuery(0xbeef, "Example.com.", TYPE_CODE.MX);
  const message = decodeMessage(query);
  assert.equal(message.id, 0xbeef);
  assert.equal(message.isResponse, false);
  assert.deepEqual(message.questions, [{ name: "example.com", type: TYPE_CODE.MX }]);
  assert.equal(query[2], 0x01); // RD
  const view = new DataView(query.buffer);
  assert.equal(view.getUint16(10), 1); // ARCOUNT
  assert.equal(view.getUint16(query.length - 10), TYPE_CODE.OPT);
  assert.equal(view.getUint16(query.length - 8), 1232);
});

Deno.test("encodeName() refuses labels and names DNS cannot carry", () => {
  assert.throws(() => encodeName(`${"a".repeat(64)}.com`), /must be 1-63 printable ASCII octets/);
  assert.throws(() => encodeName("a..com"), /label "" must be/);
  assert.throws(() => encodeName("bad name.com"), /label "bad name"/);
  assert.throws(() => encodeName(Array(60).fill("abcd").join(".")), /must be <= 255 octets/);
  assert.deepEqual([...encodeName("")], [0]);
});

Deno.test("decodeMessage() follows compression pointers and refuses pointer loops", () => {
  // Header (1 question, 1 answer) + question "a.test" MX + answer owner pointer -> 12,
  // MX 10 "mx" + pointer to "test" at offset 14.
  const ok = Uint8Array.from([
    0,
    1,
    0x81,
    0x80,
    0,
    1,
    0,
    1,
    0,
    0,
    0,
    0,
    1,
    97,
    4,
    116,
    101,
    115,
    116,
    0,
    0,
    15,
    0,
    1,
    0xc0,
    12,
    0,
    15,
    0,
    1,
    0,
    0,
    0,
    60,
    0,
    7,
    0,
    10,
    2,
    109,
    120,
    0xc0,
    14,
  ]);
  const message = decodeMessage(ok);
  assert.deepEqual(message.answers, [{
    name: "a.test",
    type: TYPE_CODE.MX,
    ttl: 60,
    data: { kind: "mx", preference: 10, exchange: "mx.test" },
  }]);
  const loop = Uint8Array.from([0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
  assert.throws(() => decodeMessage(loop), DnsFormatError);
});

Deno.test("decodeMessage() refuses truncated messages and reads a huge TTL as 0", () => {
  assert.throws(() => decodeMessage(new Uint8Array(5)), /under 12/);
  const cut = encodeQuery(1, "example.com", TYPE_CODE.A).subarray(0, 20);
  assert.throws(() => decodeMessage(cut), DnsFormatError);
  const huge = Uint8Array.from([
    0,
    1,
    0x81,
    0x80,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    1,
    0,
    1,
    0x80,
    0,
    0,
    0,
    0,
    4,
    192,
    0,
    2,
    1,
  ]);
  assert.equal(decodeMessage(huge).answers[0]?.ttl, 0);
});

Deno.test("formatIpv6() writes RFC 5952 canonical text", () => {
  const ip = (...groups: number[]) => Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
  assert.equal(formatIpv6(ip(0, 0, 0, 0, 0, 0, 0, 1)), "::1");
  assert.equal(formatIpv6(ip(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x25)), "2001:db8::25");
  assert.equal(formatIpv6(ip(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1)), "2001:db8:0:1::1");
  assert.equal(formatIpv6(ip(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1)), "2001:db8::1:0:0:1");
  assert.equal(formatIpv6(ip(0x2001, 0xdb8, 1, 1, 1, 1, 0, 1)), "2001:db8:1:1:1:1:0:1");
  assert.equal(formatIpv6(ip(0, 0, 0, 0, 0, 0, 0, 0)), "::");
});

/** A response to "a.test" TXT with one answer whose RDATA is `rdata`. */
function txtResponse(rdata: readonly number[]): Uint8Array {
  const header = [0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
  const question = [1, 97, 4, 116, 101, 115, 116, 0, 0, TYPE_CODE.TXT, 0, 1];
  const answer = [0xc0, 12, 0, TYPE_CODE.TXT, 0, 1, 0, 0, 1, 44, 0, rdata.length, ...rdata];
  return Uint8Array.from([...header, ...question, ...answer]);
}

const bytes = (text: string) => [...new TextEncoder().encode(text)];

Deno.test("decodeMessage() joins a TXT record's character-strings without separators", () => {
  const one = decodeMessage(txtResponse([7, ...bytes("v=STSv1"), 6, ...bytes("; id=1")]));
  assert.deepEqual(one.answers[0], {
    name: "a.test",
    type: TYPE_CODE.TXT,
    ttl: 300,
    data: { kind: "txt", text: "v=STSv1; id=1" },
  });
  // "é" is two octets in UTF-8; split across two strings it is still one character.
  const [c3, a9] = bytes("é");
  const split = decodeMessage(txtResponse([2, ...bytes("x"), c3!, 2, a9!, ...bytes("y")]));
  assert.deepEqual(split.answers[0]?.data, { kind: "txt", text: "xéy" });
  const empty = decodeMessage(txtResponse([0]));
  assert.deepEqual(empty.answers[0]?.data, { kind: "txt", text: "" });
});

Deno.test("decodeMessage() refuses a TXT character-string that runs past its record", () => {
  assert.throws(
    () => decodeMessage(txtResponse([5, ...bytes("abc")])),
    /TXT character-string of 5 octets runs past its record/,
  );
});
