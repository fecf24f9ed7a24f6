import assert from "node:assert/strict";
import { describeRecord, unusableBecause, usableRecords } from "../../../relay/dane/mod.ts";
import type { TlsaRecord } from "../../../relay/dns/mod.ts";
import { danePki, hasOpenssl } from "./_pki.ts";
import { tlsaFor } from "./_records.ts";
import { requirePeer } from "../../_support/peers.ts";

const bytes = (n: number) => new Uint8Array(n).fill(0xab);
const r = (
  usage: number,
  selector: number,
  matchingType: number,
  data = bytes(32),
): TlsaRecord => ({
  usage,
  selector,
  matchingType,
  data,
});

Deno.test("unusableBecause(): which TLSA parameters SMTP can use (RFC 7672 §3.1, RFC 6698 §2.1)", () => {
  const table: [TlsaRecord, RegExp | undefined][] = [
    [r(3, 1, 1), undefined],
    [r(3, 0, 1), undefined],
    [r(2, 0, 1), undefined],
    [r(2, 1, 1), undefined],
    [r(3, 1, 2, bytes(64)), undefined],
    [r(2, 0, 2, bytes(64)), undefined],
    [r(0, 0, 1), /usage 0 \(PKIX-TA\) is not used for SMTP \(RFC 7672 §3\.1\.3\)/],
    [r(1, 1, 1), /usage 1 \(PKIX-EE\) is not used for SMTP/],
    [r(4, 1, 1), /certificate usage 4 is unknown/],
    [r(255, 1, 1), /certificate usage 255 is unknown/],
    [r(3, 2, 1), /selector 2 is unknown/],
    [r(3, 1, 3), /matching type 3 is unknown/],
    [r(3, 1, 1, bytes(31)), /SHA-256 digest has 32 octets, not 31/],
    [r(3, 1, 2, bytes(32)), /SHA-512 digest has 64 octets, not 32/],
    [r(3, 1, 0, bytes(40)), /its data is not a SubjectPublicKeyInfo/],
    [r(3, 0, 0, bytes(40)), /its data is not a certificate/],
  ];
  for (const [record, expected] of table) {
    const why = unusableBecause(record);
    const label = `${record.usage} ${record.selector} ${record.matchingType}`;
    if (expected) assert.match(why ?? "(usable)", expected, label);
    else assert.equal(why, undefined, label);
  }
});

Deno.test({
  name: "unusableBecause(): exact data (matching type 0) is usable when it is a real cert or key",
  ignore: requirePeer("openssl", !hasOpenssl),
  async fn() {
    const pki = await danePki();
    assert.equal(unusableBecause(tlsaFor(3, 0, 0, pki.leaf.der)), undefined);
    assert.equal(unusableBecause(tlsaFor(3, 1, 0, pki.leaf.der)), undefined);
    assert.equal(unusableBecause(tlsaFor(2, 1, 0, pki.root.der)), undefined);
  },
});

Deno.test("usableRecords() sorts an RRset, each record set aside with its reason", () => {
  const sorted = usableRecords([r(3, 1, 1), r(1, 1, 1), r(2, 0, 9)]);
  assert.deepEqual(sorted.usable, [r(3, 1, 1)]);
  assert.deepEqual(sorted.unusable.map((u) => u.record), [r(1, 1, 1), r(2, 0, 9)]);
  assert.match(sorted.unusable[0]!.reason, /^1 1 1 abababababababab…: usage 1/);
  assert.match(sorted.unusable[1]!.reason, /^2 0 9 .*: matching type 9 is unknown/);
  assert.deepEqual(usableRecords([]), { usable: [], unusable: [] });
});

Deno.test("usableRecords(): SHA-512 beside SHA-256 for the same usage and selector wins (RFC 7671 §9)", () => {
  const sorted = usableRecords([r(3, 1, 1), r(3, 1, 2, bytes(64)), r(3, 0, 1), r(2, 1, 1)]);
  assert.deepEqual(sorted.usable, [r(3, 1, 2, bytes(64)), r(3, 0, 1), r(2, 1, 1)]);
  assert.deepEqual(sorted.unusable.map((u) => u.record), [r(3, 1, 1)]);
  assert.match(sorted.unusable[0]!.reason, /SHA-512 records exist for usage 3 selector 1/);
});

Deno.test("describeRecord() shows the parameters and the start of the data", () => {
  assert.equal(describeRecord(r(3, 1, 1, Uint8Array.of(1, 2, 0xff))), "3 1 1 0102ff");
  assert.equal(describeRecord(r(2, 0, 1)), "2 0 1 abababababababab…");
});
