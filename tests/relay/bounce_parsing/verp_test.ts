import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeVerp, encodeVerp, VERP_TAG_LENGTH } from "../../../relay/bounce_parsing/mod.ts";

const KEY = { prefix: "bounces", domain: "bounce.example.com", secret: "s3cret-s3cret-s3cret" };

Deno.test("encodeVerp() builds prefix+id-tag@domain", () => {
  const address = encodeVerp(4711n, KEY);
  assert.match(
    address,
    new RegExp(`^bounces\\+4711-[0-9a-f]{${VERP_TAG_LENGTH}}@bounce\\.example\\.com$`),
  );
  assert.equal(encodeVerp(4711, KEY), address);
  assert.equal(encodeVerp("4711", KEY), address);
});

Deno.test("decodeVerp() returns the id of any address encodeVerp() made", () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[0-9a-z]{1,40}$/), (id) => {
      assert.equal(decodeVerp(encodeVerp(id, KEY), KEY), id);
    }),
  );
});

Deno.test("decodeVerp() rejects any change to the id or the tag", () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }),
      fc.nat(),
      fc.constantFrom(..."0123456789abcdef"),
      (id, at, ch) => {
        const address = encodeVerp(id, KEY);
        const local = address.slice(0, address.indexOf("@"));
        const pos = "bounces+".length + (at % (local.length - "bounces+".length));
        if (local[pos] === ch || local[pos] === "-") return;
        const tampered = address.slice(0, pos) + ch + address.slice(pos + 1);
        assert.equal(decodeVerp(tampered, KEY), undefined, tampered);
      },
    ),
  );
});

Deno.test("decodeVerp() accepts brackets and case changes, not other prefixes, domains or secrets", () => {
  const address = encodeVerp(42, KEY);
  assert.equal(decodeVerp(`<${address.toUpperCase()}>`, KEY), "42");
  assert.equal(decodeVerp(address.replace("bounces+", "other+"), KEY), undefined);
  assert.equal(decodeVerp(address.replace("example.com", "example.net"), KEY), undefined);
  assert.equal(decodeVerp(address, { ...KEY, secret: "another-secret-value" }), undefined);
  assert.equal(decodeVerp("bounces@bounce.example.com", KEY), undefined);
  assert.equal(decodeVerp("bounces+42@bounce.example.com", KEY), undefined);
  assert.equal(decodeVerp("not an address", KEY), undefined);
});

Deno.test("encodeVerp() refuses ids it cannot carry", () => {
  for (const id of ["", "a-b", "A1", "x@y", "1".repeat(41), -1]) {
    assert.throws(() => encodeVerp(id, KEY), RangeError, String(id));
  }
});
