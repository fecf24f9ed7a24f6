import assert from "node:assert/strict";
import { isLoopback, trustsAd } from "../../../relay/dns/trusts_ad.ts";

Deno.test("isLoopback() knows 127.0.0.0/8 and ::1, in any spelling", () => {
  for (
    const ip of ["127.0.0.1", "127.0.0.53", "127.255.255.254", "::1", "0:0::1", "::ffff:127.0.0.1"]
  ) {
    assert.equal(isLoopback(ip), true, ip);
  }
  for (
    const ip of ["128.0.0.1", "10.0.0.1", "192.0.2.53", "::2", "2001:db8::1", "::ffff:10.0.0.1"]
  ) {
    assert.equal(isLoopback(ip), false, ip);
  }
  assert.equal(isLoopback("localhost"), false);
});

Deno.test("trustsAd(): loopback servers by default, otherwise only on the operator's word", () => {
  assert.equal(trustsAd({ ipAddr: "127.0.0.1" }), true);
  assert.equal(trustsAd({ ipAddr: "::1", port: 5353 }), true);
  assert.equal(trustsAd({ ipAddr: "192.0.2.53" }), false);
  assert.equal(trustsAd({ ipAddr: "192.0.2.53", trustAd: true }), true);
  assert.equal(trustsAd({ ipAddr: "127.0.0.53", trustAd: false }), false);
});
