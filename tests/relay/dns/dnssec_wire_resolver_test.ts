/**
 * WireResolver with `dnssec` against the test DNS server: the DO bit goes out, the AD bit comes
 * back, and counts only from a name server whose AD bit is trusted.
 */
import assert from "node:assert/strict";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { DnsServer, type ZoneEntry } from "../../_fakes/dns_server.ts";
import { WireResolver } from "../../../relay/dns/wire_resolver.ts";

const DIGEST = Uint8Array.from({ length: 32 }, (_, i) => i);

const ZONE: Record<string, ZoneEntry> = {
  "example.test": { mx: [{ preference: 10, exchange: "mx.example.test" }] },
  "mx.example.test": { a: ["192.0.2.1"] },
  "_25._tcp.mx.example.test": {
    tlsa: [
      { usage: 3, selector: 1, matchingType: 1, data: DIGEST },
      { usage: 2, selector: 0, matchingType: 2, data: Uint8Array.of(1, 2) },
    ],
  },
  "alias.example.test": { cname: "mx.example.test" },
};

const SIGNED = [
  "example.test",
  "mx.example.test",
  "_25._tcp.mx.example.test",
  "alias.example.test",
  "_25._tcp.nothing.example.test",
];

Deno.test("WireResolver with dnssec sends DO and marks answers with a trusted AD bit secure", async () => {
  await using server = await DnsServer.start({ zone: ZONE, ttl: 120, ad: SIGNED });
  const resolver = new WireResolver({
    clock: new FakeClock(),
    nameServers: [server.nameServer],
    dnssec: true,
  });
  assert.deepEqual(await resolver.resolve("example.test", "MX"), {
    kind: "records",
    records: [{ preference: 10, exchange: "mx.example.test" }],
    ttl: 120,
    secure: true,
  });
  assert.deepEqual(await resolver.resolve("_25._tcp.mx.example.test", "TLSA"), {
    kind: "records",
    records: [
      { usage: 3, selector: 1, matchingType: 1, data: DIGEST },
      { usage: 2, selector: 0, matchingType: 2, data: Uint8Array.of(1, 2) },
    ],
    ttl: 120,
    secure: true,
  });
  // Authenticated denial of existence: NODATA and NXDOMAIN with the AD bit.
  assert.deepEqual(await resolver.resolve("mx.example.test", "TLSA"), {
    kind: "nodata",
    ttl: 120,
    secure: true,
  });
  assert.deepEqual(await resolver.resolve("_25._tcp.nothing.example.test", "TLSA"), {
    kind: "nxdomain",
    ttl: 120,
    secure: true,
  });
  assert.ok(server.queries.every((q) => q.dnssecOk));
});

Deno.test("WireResolver reports where a secure CNAME chain led", async () => {
  await using server = await DnsServer.start({ zone: ZONE, ttl: 60, ad: SIGNED });
  const resolver = new WireResolver({
    clock: new FakeClock(),
    nameServers: [server.nameServer],
    dnssec: true,
  });
  assert.deepEqual(await resolver.resolve("alias.example.test", "A"), {
    kind: "records",
    records: ["192.0.2.1"],
    ttl: 60,
    secure: true,
    canonicalName: "mx.example.test",
  });
});

Deno.test("WireResolver leaves answers without the AD bit unmarked (insecure)", async () => {
  await using server = await DnsServer.start({ zone: ZONE, ttl: 120, ad: ["example.test"] });
  const resolver = new WireResolver({
    clock: new FakeClock(),
    nameServers: [server.nameServer],
    dnssec: true,
  });
  assert.deepEqual(await resolver.resolve("_25._tcp.mx.example.test", "TLSA"), {
    kind: "records",
    records: ZONE["_25._tcp.mx.example.test"]!.tlsa!,
    ttl: 120,
  });
  assert.deepEqual(await resolver.resolve("missing.example.test", "A"), {
    kind: "nxdomain",
    ttl: 120,
  });
});

Deno.test("WireResolver ignores the AD bit of a name server not trusted to set it", async () => {
  await using server = await DnsServer.start({ zone: ZONE, ad: SIGNED });
  const trusting = new WireResolver({
    clock: new FakeClock(),
    nameServers: [server.nameServer],
    dnssec: true,
  });
  const seen = await trusting.resolve("example.test", "MX");
  assert.equal(seen.kind === "records" && seen.secure, true, "the server does set AD");
  // Loopback is trusted by default; the operator's `trustAd: false` says this one does not
  // validate (say, a forwarder on this host), so its AD bit means nothing.
  const resolver = new WireResolver({
    clock: new FakeClock(),
    nameServers: [{ ...server.nameServer, trustAd: false }],
    dnssec: true,
  });
  const mx = await resolver.resolve("example.test", "MX");
  assert.equal(mx.kind, "records");
  assert.equal("secure" in mx, false);
  const denial = await resolver.resolve("mx.example.test", "TLSA");
  assert.deepEqual(denial, { kind: "nodata", ttl: 300 });
});

Deno.test("WireResolver without dnssec sends no DO bit and so gets no AD bit", async () => {
  await using server = await DnsServer.start({ zone: ZONE, ad: SIGNED });
  const resolver = new WireResolver({ clock: new FakeClock(), nameServers: [server.nameServer] });
  const mx = await resolver.resolve("example.test", "MX");
  assert.equal(mx.kind === "records" && mx.secure, undefined);
  assert.deepEqual(server.queries.map((q) => q.dnssecOk), [false]);
});

Deno.test("WireResolver reports a SERVFAIL (how a validator says 'bogus') on TLSA as an error", async () => {
  await using server = await DnsServer.start({
    zone: ZONE,
    ad: SIGNED,
    servfail: ["_25._tcp.mx.example.test"],
  });
  const resolver = new WireResolver({
    clock: new FakeClock(),
    nameServers: [server.nameServer],
    dnssec: true,
    attempts: 1,
  });
  const tlsa = await resolver.resolve("_25._tcp.mx.example.test", "TLSA");
  assert.equal(tlsa.kind, "error");
  assert.match(tlsa.kind === "error" ? tlsa.reason : "", /SERVFAIL/);
});
