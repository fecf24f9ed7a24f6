import assert from "node:assert/strict";
import {
  decodeMessage,
  DnsFormatError,
  encodeName,
  encodeQuery,
  TYPE_CODE,
} from "../../../relay/dns/wire_format.ts";

/** The OPT record is the last 11 octets of a query: its TTL field holds the DO bit. */
function optOf(query: Uint8Array) {
  const view = new DataView(query.buffer, query.byteOffset, query.byteLength);
  const at = query.length - 11;
  return {
    type: view.getUint16(at + 1),
    payload: view.getUint16(at + 3),
    flags: view.getUint16(at + 7),
  };
}

Deno.test("encodeQuery() sets the DO bit in the OPT record only when asked (RFC 3225 §3)", () => {
  const plain = optOf(encodeQuery(1, "example.test", TYPE_CODE.MX));
  assert.deepEqual(plain, { type: TYPE_CODE.OPT, payload: 1232, flags: 0 });
  const dnssec = optOf(encodeQuery(1, "example.test", TYPE_CODE.MX, { dnssecOk: true }));
  assert.deepEqual(dnssec, { type: TYPE_CODE.OPT, payload: 1232, flags: 0x8000 });
  const small = optOf(encodeQuery(1, "example.test", TYPE_CODE.MX, { udpPayload: 512 }));
  assert.equal(small.payload, 512);
  // CD stays clear: the resolver is to validate, not to hand over unchecked data.
  assert.equal(encodeQuery(1, "example.test", TYPE_CODE.TLSA, { dnssecOk: true })[3]! & 0x10, 0);
});

/** A response to `_25._tcp.mx.test TLSA` with the given flags and TLSA RDATA. */
function tlsaResponse(flags: number, rdata: readonly number[]): Uint8Array {
  const u16 = (n: number) => [n >> 8, n & 0xff];
  const header = [...u16(0x1234), ...u16(flags), ...u16(1), ...u16(1), ...u16(0), ...u16(0)];
  const question = [...encodeName("_25._tcp.mx.test"), ...u16(TYPE_CODE.TLSA), ...u16(1)];
  const owner = [0xc0, 12]; // a pointer to the question name
  const answer = [...owner, ...u16(TYPE_CODE.TLSA), ...u16(1), ...u16(0), ...u16(3600)]
    .concat(u16(rdata.length), rdata);
  return Uint8Array.from([...header, ...question, ...answer]);
}

Deno.test("decodeMessage() reads the AD bit and TLSA records (RFC 4035 §3.2.3, RFC 6698 §2.1)", () => {
  const secure = decodeMessage(tlsaResponse(0x81a0, [3, 1, 1, 0xde, 0xad, 0xbe, 0xef]));
  assert.equal(secure.authenticData, true);
  assert.equal(secure.answers.length, 1);
  assert.deepEqual(secure.answers[0], {
    name: "_25._tcp.mx.test",
    type: TYPE_CODE.TLSA,
    ttl: 3600,
    data: {
      kind: "tlsa",
      usage: 3,
      selector: 1,
      matchingType: 1,
      data: Uint8Array.from([0xde, 0xad, 0xbe, 0xef]),
    },
  });
  const insecure = decodeMessage(tlsaResponse(0x8180, [2, 0, 1, 0xff]));
  assert.equal(insecure.authenticData, false);
  assert.deepEqual(insecure.answers[0]?.data, {
    kind: "tlsa",
    usage: 2,
    selector: 0,
    matchingType: 1,
    data: Uint8Array.from([0xff]),
  });
});

Deno.test("decodeMessage() copies TLSA data out of the message buffer", () => {
  const bytes = tlsaResponse(0x8180, [3, 1, 1, 0xaa]);
  const record = decodeMessage(bytes).answers[0]!.data;
  bytes[bytes.length - 1] = 0xbb;
  assert.deepEqual(record.kind === "tlsa" ? [...record.data] : [], [0xaa]);
});

Deno.test("decodeMessage() refuses a TLSA record shorter than its three parameters", () => {
  assert.throws(
    () => decodeMessage(tlsaResponse(0x8180, [3, 1])),
    (err: unknown) => err instanceof DnsFormatError && /TLSA record has 2 octets/.test(err.message),
  );
});
