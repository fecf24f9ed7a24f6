import assert from "node:assert/strict";
import { matchingName, nameMatches } from "../../../relay/dane/mod.ts";

Deno.test("nameMatches(): exact names, any case, trailing dot ignored", () => {
  assert.equal(nameMatches("mx.example.test", "mx.example.test"), true);
  assert.equal(nameMatches("MX.Example.TEST", "mx.example.test."), true);
  assert.equal(nameMatches("mx.example.test", "mx2.example.test"), false);
  assert.equal(nameMatches("", ""), false);
});

Deno.test("nameMatches(): a wildcard is one whole left-most label (RFC 7672 §3.2.3)", () => {
  assert.equal(nameMatches("*.example.test", "mx.example.test"), true);
  assert.equal(nameMatches("*.example.test", "example.test"), false);
  assert.equal(nameMatches("*.example.test", "a.mx.example.test"), false);
  assert.equal(nameMatches("m*.example.test", "mx.example.test"), false); // partial label
  assert.equal(nameMatches("mx.*.test", "mx.example.test"), false); // not left-most
  assert.equal(nameMatches("*.test", "example.test"), false); // directly under one label
  assert.equal(nameMatches("*.*.test", "a.b.test"), false);
});

Deno.test("matchingName(): DNS-IDs when present, else the common names (RFC 6125 §6.4.4)", () => {
  const refs = ["mx.example.test", "example.test"];
  assert.equal(
    matchingName({ dnsNames: ["other.test", "example.test"], commonNames: [] }, refs),
    "example.test",
  );
  // A common name is not looked at when DNS-IDs exist...
  assert.equal(
    matchingName({ dnsNames: ["other.test"], commonNames: ["mx.example.test"] }, refs),
    undefined,
  );
  // ...and is when none do.
  assert.equal(
    matchingName({ dnsNames: [], commonNames: ["mx.example.test"] }, refs),
    "mx.example.test",
  );
  assert.equal(matchingName({ dnsNames: [], commonNames: [] }, refs), undefined);
});
