/** What the route plan says about DNSSEC, which DANE needs (RFC 7672 §2.2.1). */
import assert from "node:assert/strict";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import { DnsServer } from "../../_fakes/dns_server.ts";
import { createRouter } from "../../../relay/dns/route.ts";
import { WireResolver } from "../../../relay/dns/wire_resolver.ts";
import { parseRoutes } from "../../../relay/dns/static_routes.ts";
import type { Resolver } from "../../../relay/dns/resolver.ts";

const first = () => 0;

Deno.test("planRoute() marks a secure MX RRset and hosts whose addresses are secure", async () => {
  const resolver = new FakeResolver({
    "example.test": {
      mx: [
        { preference: 10, exchange: "signed.example.test" },
        { preference: 20, exchange: "unsigned.example.test" },
      ],
      secure: true,
    },
    "signed.example.test": { a: ["192.0.2.1"], secure: true },
    "unsigned.example.test": { a: ["192.0.2.2"] },
  });
  const plan = await createRouter({ resolver, random: first }).planRoute("example.test");
  assert.deepEqual(plan, {
    kind: "hosts",
    via: "mx",
    mxSecure: true,
    hosts: [
      {
        name: "signed.example.test",
        port: 25,
        preference: 10,
        addresses: ["192.0.2.1"],
        secure: true,
      },
      { name: "unsigned.example.test", port: 25, preference: 20, addresses: ["192.0.2.2"] },
    ],
    unresolved: [],
  });
});

Deno.test("planRoute(): an insecure MX RRset is not marked, even with secure hosts", async () => {
  const resolver = new FakeResolver({
    "example.test": { mx: [{ preference: 10, exchange: "mx.example.test" }] },
    "mx.example.test": { a: ["192.0.2.1"], secure: true },
  });
  const plan = await createRouter({ resolver, random: first }).planRoute("example.test");
  assert.equal(plan.kind === "hosts" && plan.mxSecure, undefined);
  assert.equal(plan.kind === "hosts" && plan.hosts[0]?.secure, true);
});

Deno.test("planRoute(): a host is secure only if every address answer that came is", async () => {
  const zone = new FakeResolver({
    "example.test": { mx: [{ preference: 10, exchange: "mx.example.test" }], secure: true },
    "mx.example.test": { a: ["192.0.2.1"], aaaa: ["2001:db8::1"], secure: true },
  });
  /** The zone, with AAAA answers stripped of their `secure` mark or failing. */
  const withAaaa = (aaaa: "secure" | "insecure" | "failing"): Resolver => ({
    async resolve(name, type, signal) {
      if (type === "AAAA" && aaaa === "failing") return { kind: "error", reason: "SERVFAIL" };
      const answer = await zone.resolve(name, type, signal);
      if (type !== "AAAA" || aaaa === "secure" || answer.kind === "error") return answer;
      const { secure: _dropped, ...rest } = answer;
      return rest;
    },
  });
  const hostOf = async (aaaa: "secure" | "insecure" | "failing") => {
    const plan = await createRouter({ resolver: withAaaa(aaaa), random: first })
      .planRoute("example.test");
    assert.equal(plan.kind, "hosts");
    return plan.kind === "hosts" ? plan.hosts[0] : undefined;
  };
  assert.equal((await hostOf("secure"))?.secure, true);
  // An AAAA answer that is not authentic spoils the host: its address may be forged.
  assert.equal((await hostOf("insecure"))?.secure, undefined);
  // A failed family gives no address, so it cannot spoil the ones that came.
  const failing = await hostOf("failing");
  assert.deepEqual(failing?.addresses, ["192.0.2.1"]);
  assert.equal(failing?.secure, true);
});

Deno.test("planRoute(): the implicit MX is marked when the MX denial was secure", async () => {
  const resolver = new FakeResolver({
    "example.test": { a: ["192.0.2.9"], secure: true, canonicalName: "host.example.test" },
  });
  const plan = await createRouter({ resolver, random: first }).planRoute("example.test");
  assert.deepEqual(plan, {
    kind: "hosts",
    via: "implicit-mx",
    mxSecure: true,
    hosts: [{
      name: "example.test",
      port: 25,
      preference: 0,
      addresses: ["192.0.2.9"],
      secure: true,
      canonicalName: "host.example.test",
    }],
    unresolved: [],
  });
});

Deno.test("planRoute(): a static route is never marked secure", async () => {
  const resolver = new FakeResolver({ "relay.test": { a: ["192.0.2.7"], secure: true } });
  const parsed = parseRoutes("example.test=relay.test:587");
  assert.ok(parsed.ok);
  const routes = parsed.table;
  const plan = await createRouter({ resolver, random: first, routes }).planRoute("example.test");
  assert.equal(plan.kind, "hosts");
  assert.equal(plan.kind === "hosts" && plan.mxSecure, undefined);
  assert.equal(plan.kind === "hosts" && plan.hosts[0]?.secure, undefined);
});

Deno.test("planRoute() over the wire: flags from the AD bit, CNAME target kept", async () => {
  await using server = await DnsServer.start({
    zone: {
      "example.test": { mx: [{ preference: 10, exchange: "mx.example.test" }] },
      "mx.example.test": { cname: "real.example.test" },
      "real.example.test": { a: ["192.0.2.1"] },
    },
    ad: ["example.test", "mx.example.test"],
  });
  const resolver = new WireResolver({
    clock: new FakeClock(),
    nameServers: [server.nameServer],
    dnssec: true,
  });
  const plan = await createRouter({ resolver, random: first }).planRoute("example.test");
  assert.deepEqual(plan, {
    kind: "hosts",
    via: "mx",
    mxSecure: true,
    hosts: [{
      name: "mx.example.test",
      port: 25,
      preference: 10,
      addresses: ["192.0.2.1"],
      secure: true,
      canonicalName: "real.example.test",
    }],
    unresolved: [],
  });
});
