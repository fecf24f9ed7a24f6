import assert from "node:assert/strict";
import { isMxPattern, matchesMxPattern, mxAllowed } from "../../../relay/mta_sts/mod.ts";

Deno.test("matchesMxPattern() compares host names without case or trailing dot", () => {
  assert.equal(matchesMxPattern("mail.example.com", "mail.example.com"), true);
  assert.equal(matchesMxPattern("mail.example.com", "MAIL.Example.com."), true);
  assert.equal(matchesMxPattern("mail.example.com", "mail2.example.com"), false);
  assert.equal(matchesMxPattern("mail.example.com", "mail.example.com.evil.test"), false);
});

Deno.test("matchesMxPattern() lets a wildcard stand for exactly one leftmost label (§4.1)", () => {
  assert.equal(matchesMxPattern("*.example.com", "mx1.example.com"), true);
  assert.equal(matchesMxPattern("*.example.com", "MX1.EXAMPLE.COM."), true);
  assert.equal(matchesMxPattern("*.example.com", "example.com"), false);
  assert.equal(matchesMxPattern("*.example.com", "a.mx1.example.com"), false);
  assert.equal(matchesMxPattern("*.example.com", ".example.com"), false);
  assert.equal(matchesMxPattern("*.example.com", "mx1.example.com.au"), false);
  assert.equal(matchesMxPattern("*.example.com", "mx1-example.com"), false);
});

Deno.test("mxAllowed() accepts a host that matches any pattern of the policy", () => {
  const policy = { mx: ["mail.example.com", "*.example.net"] };
  assert.equal(mxAllowed(policy, "mail.example.com"), true);
  assert.equal(mxAllowed(policy, "backup.example.net"), true);
  assert.equal(mxAllowed(policy, "example.net"), false);
  assert.equal(mxAllowed(policy, "attacker.test"), false);
  assert.equal(mxAllowed({ mx: [] }, "mail.example.com"), false);
});

Deno.test("isMxPattern() takes host names and one leading wildcard label", () => {
  for (
    const ok of ["mx.example.com", "*.example.com", "localhost", "xn--bcher-kva.example", "a-1.b"]
  ) {
    assert.equal(isMxPattern(ok), true, ok);
  }
  for (
    const bad of ["", "*", "*.", "**.example.com", "a.*.example.com", "-a.example", "a-.b", "a..b"]
  ) {
    assert.equal(isMxPattern(bad), false, bad);
  }
  assert.equal(isMxPattern(`${"a".repeat(64)}.example`), false);
});
