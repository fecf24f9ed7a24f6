import assert from "node:assert/strict";
import { daneForHost, decideDane } from "../../../relay/dane/mod.ts";
import type { RouteHost, TlsaRecord } from "../../../relay/dns/mod.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";

const EE: TlsaRecord = { usage: 3, selector: 1, matchingType: 1, data: new Uint8Array(32) };
const PKIX: TlsaRecord = { usage: 1, selector: 1, matchingType: 1, data: new Uint8Array(32) };
const NAME = "_25._tcp.mx.example.test";

Deno.test("decideDane(): the four outcomes of a TLSA lookup (RFC 7672 §2.2)", () => {
  assert.deepEqual(decideDane({ kind: "secure", name: NAME, records: [EE, PKIX], ttl: 60 }), {
    kind: "dane",
    tlsaName: NAME,
    records: [EE],
    unusable: [{
      record: PKIX,
      reason: "1 1 1 0000000000000000…: usage 1 (PKIX-EE) is not used for SMTP (RFC 7672 §3.1.3)",
    }],
  });
  const unusable = decideDane({ kind: "secure", name: NAME, records: [PKIX], ttl: 60 });
  assert.equal(unusable.kind, "unusable");
  assert.match(
    unusable.kind === "unusable" ? unusable.reason : "",
    /has TLSA records but none usable for SMTP, so TLS is required without authentication/,
  );
  assert.deepEqual(decideDane({ kind: "insecure", name: NAME }), {
    kind: "no-dane",
    reason: `${NAME} has no DNSSEC-validated TLSA answer`,
  });
  assert.deepEqual(decideDane({ kind: "secure-denial", name: NAME, denial: "nxdomain" }), {
    kind: "no-dane",
    reason: `${NAME} has no TLSA records (authenticated NXDOMAIN)`,
  });
  const failed = decideDane({ kind: "failed", name: NAME, reason: "SERVFAIL" });
  assert.equal(failed.kind, "defer");
  assert.match(failed.kind === "defer" ? failed.reason : "", /DANE cannot be ruled out.*SERVFAIL/);
});

const host = (extra: Partial<RouteHost> = {}): RouteHost => ({
  name: "mx.example.test",
  port: 25,
  preference: 10,
  addresses: ["192.0.2.1"],
  secure: true,
  ...extra,
});
const MX = { via: "mx", mxSecure: true } as const;

Deno.test("daneForHost(): usable records give `dane` with the SNI and reference names", async () => {
  const resolver = new FakeResolver({ [NAME]: { tlsa: [EE], secure: true } });
  assert.deepEqual(await daneForHost(resolver, "Example.Test", MX, host()), {
    kind: "dane",
    tlsaName: NAME,
    records: [EE],
    unusable: [],
    serverName: "mx.example.test",
    referenceNames: ["mx.example.test", "example.test"],
  });
});

Deno.test("daneForHost(): no DANE without a secure MX answer and secure host addresses", async () => {
  const resolver = new FakeResolver({ [NAME]: { tlsa: [EE], secure: true } });
  const insecureMx = await daneForHost(resolver, "example.test", { via: "mx" }, host());
  assert.deepEqual(insecureMx, {
    kind: "no-dane",
    reason: "the MX lookup of example.test was not DNSSEC-validated",
  });
  const insecureHost = await daneForHost(resolver, "example.test", MX, host({ secure: undefined }));
  assert.deepEqual(insecureHost, {
    kind: "no-dane",
    reason: "the address records of mx.example.test were not DNSSEC-validated",
  });
  const staticRoute = await daneForHost(resolver, "example.test", { via: "static" }, host());
  assert.equal(staticRoute.kind, "no-dane");
  // None of these looked for TLSA records: an insecure path makes them meaningless.
  assert.equal(resolver.count(NAME, "TLSA"), 0);
});

Deno.test("daneForHost(): unusable records, insecure or missing records, and a failed lookup", async () => {
  const resolver = new FakeResolver({
    [NAME]: { tlsa: [PKIX], secure: true },
    "_25._tcp.unsigned.example.test": { tlsa: [EE] },
  }, { secureNxdomain: ["_25._tcp.plain.example.test"] })
    .fail("_25._tcp.broken.example.test", "error");
  const at = (name: string) => daneForHost(resolver, "example.test", MX, host({ name }));
  assert.equal((await at("mx.example.test")).kind, "unusable");
  assert.equal((await at("unsigned.example.test")).kind, "no-dane");
  assert.equal((await at("plain.example.test")).kind, "no-dane");
  assert.equal((await at("broken.example.test")).kind, "defer");
});

Deno.test("daneForHost(): port-specific TLSA name (RFC 7672 §2.2.3)", async () => {
  const resolver = new FakeResolver({ "_2525._tcp.mx.example.test": { tlsa: [EE], secure: true } });
  const decision = await daneForHost(resolver, "example.test", MX, host({ port: 2525 }));
  assert.equal(decision.kind === "dane" && decision.tlsaName, "_2525._tcp.mx.example.test");
});

Deno.test("daneForHost(): after secure CNAMEs, TLSA at the target first, then at the host name", async () => {
  const aliased = host({ canonicalName: "real.hosting.test" });
  const atTarget = new FakeResolver({
    "_25._tcp.real.hosting.test": { tlsa: [EE], secure: true },
    [NAME]: { tlsa: [PKIX], secure: true },
  });
  const first = await daneForHost(atTarget, "example.test", MX, aliased);
  assert.equal(first.kind, "dane");
  assert.deepEqual(first.kind === "dane" && first.serverName, "real.hosting.test");
  assert.deepEqual(first.kind === "dane" && first.referenceNames, [
    "real.hosting.test",
    "mx.example.test",
    "example.test",
  ]);
  // Nothing at the target (an authenticated denial): the host name's records count.
  const atHost = new FakeResolver({ [NAME]: { tlsa: [EE], secure: true } }, {
    secureNxdomain: ["_25._tcp.real.hosting.test"],
  });
  const second = await daneForHost(atHost, "example.test", MX, aliased);
  assert.equal(second.kind === "dane" && second.serverName, "mx.example.test");
  assert.deepEqual(second.kind === "dane" && second.referenceNames, [
    "mx.example.test",
    "real.hosting.test",
    "example.test",
  ]);
  // A failure at the target settles it: defer, never on to a weaker answer.
  const failing = new FakeResolver({ [NAME]: { tlsa: [EE], secure: true } })
    .fail("_25._tcp.real.hosting.test", "error");
  assert.equal((await daneForHost(failing, "example.test", MX, aliased)).kind, "defer");
  assert.equal(failing.count(NAME, "TLSA"), 0);
});

Deno.test("daneForHost(): a domain without MX is its own host and reference name", async () => {
  const resolver = new FakeResolver({ "_25._tcp.example.test": { tlsa: [EE], secure: true } });
  const decision = await daneForHost(
    resolver,
    "example.test",
    { via: "implicit-mx", mxSecure: true },
    host({ name: "example.test", preference: 0 }),
  );
  assert.equal(decision.kind, "dane");
  assert.deepEqual(decision.kind === "dane" && decision.referenceNames, ["example.test"]);
});
