import assert from "node:assert/strict";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import { DnsServer } from "../../_fakes/dns_server.ts";
import { lookupTlsa, tlsaName } from "../../../relay/dns/tlsa.ts";
import { WireResolver } from "../../../relay/dns/wire_resolver.ts";

const RECORD = { usage: 3, selector: 1, matchingType: 1, data: new Uint8Array(32) };

Deno.test("tlsaName() is port-specific and over TCP (RFC 6698 §3)", () => {
  assert.equal(tlsaName("MX.Example.Test."), "_25._tcp.mx.example.test");
  assert.equal(tlsaName("relay.example.test", 587), "_587._tcp.relay.example.test");
  assert.throws(() => tlsaName("mx.test", 0), /port 0 is not in 1-65535/);
});

Deno.test("lookupTlsa() sorts answers into secure, secure denial, insecure and failed", async () => {
  const resolver = new FakeResolver({
    "_25._tcp.signed.test": { tlsa: [RECORD], secure: true },
    "_25._tcp.nodata.test": { a: ["192.0.2.1"], secure: true },
    "_25._tcp.unsigned.test": { tlsa: [RECORD] },
    "_25._tcp.unsigned-nodata.test": { a: ["192.0.2.1"] },
  }, { secureNxdomain: ["_25._tcp.gone.test"] }).fail("_25._tcp.bogus.test", "error");
  assert.deepEqual(await lookupTlsa(resolver, "signed.test"), {
    kind: "secure",
    name: "_25._tcp.signed.test",
    records: [RECORD],
    ttl: 300,
  });
  assert.deepEqual(await lookupTlsa(resolver, "nodata.test"), {
    kind: "secure-denial",
    name: "_25._tcp.nodata.test",
    denial: "nodata",
  });
  assert.deepEqual(await lookupTlsa(resolver, "gone.test"), {
    kind: "secure-denial",
    name: "_25._tcp.gone.test",
    denial: "nxdomain",
  });
  for (const host of ["unsigned.test", "unsigned-nodata.test", "unknown.test"]) {
    assert.deepEqual(await lookupTlsa(resolver, host), {
      kind: "insecure",
      name: `_25._tcp.${host}`,
    });
  }
  assert.deepEqual(await lookupTlsa(resolver, "bogus.test"), {
    kind: "failed",
    name: "_25._tcp.bogus.test",
    reason: "SERVFAIL for TLSA _25._tcp.bogus.test",
  });
});

Deno.test("lookupTlsa() over the wire: secure records, and SERVFAIL as failed", async () => {
  await using server = await DnsServer.start({
    zone: { "_25._tcp.mx.example.test": { tlsa: [RECORD] } },
    ad: ["_25._tcp.mx.example.test"],
    servfail: ["_25._tcp.broken.example.test"],
  });
  const resolver = new WireResolver({
    clock: new FakeClock(),
    nameServers: [server.nameServer],
    dnssec: true,
    attempts: 1,
  });
  const found = await lookupTlsa(resolver, "mx.example.test");
  assert.equal(found.kind, "secure");
  assert.deepEqual(found.kind === "secure" ? found.records : [], [RECORD]);
  const broken = await lookupTlsa(resolver, "broken.example.test");
  assert.equal(broken.kind, "failed");
  assert.match(broken.kind === "failed" ? broken.reason : "", /SERVFAIL/);
});
