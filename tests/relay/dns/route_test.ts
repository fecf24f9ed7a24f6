import assert from "node:assert/strict";
import { FakeResolver, type FakeZoneEntry } from "../../_fakes/fake_resolver.ts";
import {
  createRouter,
  type RoutePlan,
  type RouterOptions,
  routeTargets,
} from "../../../relay/dns/route.ts";
import { parseRoutes } from "../../../relay/dns/static_routes.ts";

const ZONE: Record<string, FakeZoneEntry> = {
  "example.test": {
    mx: [
      { preference: 20, exchange: "backup.example.test" },
      { preference: 10, exchange: "mx1.example.test" },
    ],
  },
  "mx1.example.test": { a: ["192.0.2.1"], aaaa: ["2001:db8::1"] },
  "backup.example.test": { a: ["192.0.2.2"] },
  "implicit.test": { a: ["192.0.2.3"], aaaa: ["2001:db8::3"] },
  "null.test": { mx: [{ preference: 0, exchange: "." }] },
  "empty.test": {},
};

/** A random source that returns the given values in turn (then the last one forever). */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)]!;
}

function router(resolver: FakeResolver, options: Partial<RouterOptions> = {}) {
  return createRouter({ resolver, random: sequence(0.99), ...options });
}

function hostsOf(plan: RoutePlan) {
  assert.equal(plan.kind, "hosts", JSON.stringify(plan));
  return plan.kind === "hosts" ? plan.hosts : [];
}

Deno.test("planRoute() lists MX hosts by preference, each with its IPv6 then IPv4 addresses", async () => {
  const plan = await router(new FakeResolver(ZONE)).planRoute("Example.Test");
  assert.deepEqual(plan, {
    kind: "hosts",
    via: "mx",
    hosts: [
      {
        name: "mx1.example.test",
        port: 25,
        preference: 10,
        addresses: ["2001:db8::1", "192.0.2.1"],
      },
      { name: "backup.example.test", port: 25, preference: 20, addresses: ["192.0.2.2"] },
    ],
    unresolved: [],
  });
});

Deno.test("planRoute() shuffles equal preferences with the injected random source, reaching every order", async () => {
  const resolver = new FakeResolver({
    "spread.test": {
      mx: [
        { preference: 5, exchange: "a.spread.test" },
        { preference: 5, exchange: "b.spread.test" },
        { preference: 5, exchange: "c.spread.test" },
        { preference: 1, exchange: "first.spread.test" },
      ],
    },
    "a.spread.test": { a: ["192.0.2.10"] },
    "b.spread.test": { a: ["192.0.2.11"] },
    "c.spread.test": { a: ["192.0.2.12"] },
    "first.spread.test": { a: ["192.0.2.9"] },
  });
  const orders = new Set<string>();
  for (const r1 of [0, 0.4, 0.7]) {
    for (const r2 of [0, 0.6]) {
      // The group of one (preference 1) draws nothing; the group of three draws twice.
      const plan = await router(resolver, { random: sequence(r1, r2) }).planRoute("spread.test");
      const names = hostsOf(plan).map((h) => h.name[0]);
      assert.equal(names[0], "f", "the lower preference always comes first");
      orders.add(names.slice(1).join(""));
    }
  }
  assert.deepEqual([...orders].sort(), ["abc", "acb", "bac", "bca", "cab", "cba"]);
});

Deno.test("planRoute() uses the domain's own addresses when it has no MX (RFC 5321 §5.1)", async () => {
  const plan = await router(new FakeResolver(ZONE)).planRoute("implicit.test");
  assert.deepEqual(plan, {
    kind: "hosts",
    via: "implicit-mx",
    hosts: [{
      name: "implicit.test",
      port: 25,
      preference: 0,
      addresses: ["2001:db8::3", "192.0.2.3"],
    }],
    unresolved: [],
  });
});

Deno.test("planRoute() fails permanently for a null MX (RFC 7505), NXDOMAIN or no records at all", async () => {
  const r = router(new FakeResolver(ZONE));
  assert.deepEqual(await r.planRoute("null.test"), {
    kind: "permanent",
    reason: "domain null.test does not accept mail (null MX, RFC 7505)",
    status: "5.1.10",
  });
  assert.deepEqual(await r.planRoute("nowhere.test"), {
    kind: "permanent",
    reason: "domain nowhere.test does not exist (NXDOMAIN)",
    status: "5.1.2",
  });
  assert.deepEqual(await r.planRoute("empty.test"), {
    kind: "permanent",
    reason: "domain empty.test has no MX, A or AAAA records",
    status: "5.1.2",
  });
});

Deno.test("planRoute() ignores a null MX mixed with real ones", async () => {
  const resolver = new FakeResolver({
    ...ZONE,
    "mixed.test": {
      mx: [{ preference: 0, exchange: "." }, { preference: 10, exchange: "mx1.example.test" }],
    },
  });
  const hosts = hostsOf(await router(resolver).planRoute("mixed.test"));
  assert.deepEqual(hosts.map((h) => h.name), ["mx1.example.test"]);
});

Deno.test("planRoute() is transient when the MX or address lookup fails", async () => {
  const resolver = new FakeResolver(ZONE).fail("example.test", "error", "MX");
  const mx = await router(resolver).planRoute("example.test");
  assert.equal(mx.kind, "transient");
  assert.equal(mx.kind === "transient" ? mx.status : "", "4.4.3");
  resolver.heal().fail("implicit.test", "error", "A").fail("implicit.test", "error", "AAAA");
  const implicit = await router(resolver).planRoute("implicit.test");
  assert.equal(implicit.kind, "transient");
  assert.match(
    implicit.kind === "transient" ? implicit.reason : "",
    /SERVFAIL for A implicit.test/,
  );
});

Deno.test("planRoute() keeps the hosts that resolve and lists the others as unresolved", async () => {
  const resolver = new FakeResolver(ZONE).delete("mx1.example.test");
  const plan = await router(resolver).planRoute("example.test");
  assert.deepEqual(hostsOf(plan).map((h) => h.name), ["backup.example.test"]);
  assert.deepEqual(plan.kind === "hosts" ? plan.unresolved : [], [
    { name: "mx1.example.test", reason: "mx1.example.test: nxdomain" },
  ]);
});

Deno.test("planRoute() is permanent when no MX host exists, transient when one may come back", async () => {
  const resolver = new FakeResolver(ZONE).delete("mx1.example.test").delete("backup.example.test");
  const gone = await router(resolver).planRoute("example.test");
  assert.equal(gone.kind, "permanent");
  assert.equal(gone.kind === "permanent" ? gone.status : "", "5.4.4");
  resolver.fail("backup.example.test", "error", "A");
  const flaky = await router(resolver).planRoute("example.test");
  assert.equal(flaky.kind, "transient");
});

Deno.test("planRoute() follows the address order option", async () => {
  const resolver = new FakeResolver(ZONE);
  const addresses = async (addressOrder: RouterOptions["addressOrder"]) =>
    hostsOf(await router(resolver, { addressOrder }).planRoute("implicit.test"))[0]?.addresses;
  assert.deepEqual(await addresses("ipv4-first"), ["192.0.2.3", "2001:db8::3"]);
  assert.deepEqual(await addresses("ipv4-only"), ["192.0.2.3"]);
  assert.deepEqual(await addresses("ipv6-only"), ["2001:db8::3"]);
  assert.equal(resolver.queries.filter((q) => q.type === "AAAA").length, 2);
});

Deno.test("planRoute() takes a static route before DNS: exact, then suffix, then '*'", async () => {
  const routes = parseRoutes(
    "example.test=[::1]:2525,*.corp.test=relay.corp.test:587,*=192.0.2.200:26",
  );
  assert.ok(routes.ok);
  const resolver = new FakeResolver({ "relay.corp.test": { a: ["10.1.1.1"] } });
  const r = router(resolver, { routes: routes.table });
  assert.deepEqual(await r.planRoute("example.test"), {
    kind: "hosts",
    via: "static",
    hosts: [{ name: "::1", port: 2525, preference: 0, addresses: ["::1"] }],
    unresolved: [],
    route: "example.test",
  });
  const suffix = await r.planRoute("hq.corp.test");
  assert.deepEqual(hostsOf(suffix), [
    { name: "relay.corp.test", port: 587, preference: 0, addresses: ["10.1.1.1"] },
  ]);
  assert.equal(suffix.kind === "hosts" && suffix.route, "*.corp.test", "the route that matched");
  const fallback = await r.planRoute("anything.test");
  assert.deepEqual(hostsOf(fallback)[0]?.addresses, ["192.0.2.200"]);
  assert.equal(fallback.kind === "hosts" && fallback.route, "*");
  assert.deepEqual(resolver.queries.map((q) => q.name), ["relay.corp.test", "relay.corp.test"]);
});

Deno.test("planRoute() defers, never bounces, when a static route's host has no address", async () => {
  const routes = parseRoutes("*=smarthost.missing.test:587");
  assert.ok(routes.ok);
  const plan = await router(new FakeResolver(), { routes: routes.table }).planRoute("x.test");
  assert.equal(plan.kind, "transient");
  assert.match(plan.kind === "transient" ? plan.reason : "", /static route \* to smarthost/);
});

Deno.test("planRoute() refuses a domain that is not a DNS name", async () => {
  const resolver = new FakeResolver(ZONE);
  for (const domain of ["", "bad domain.test", "[192.0.2.1]", "-x.test", "a..test"]) {
    const plan = await router(resolver).planRoute(domain);
    assert.equal(plan.kind, "permanent", domain);
    assert.equal(plan.kind === "permanent" ? plan.status : "", "5.1.2");
  }
  assert.equal(resolver.queries.length, 0);
});

Deno.test("planRoute() keeps each exchange once and at most maxHosts hosts", async () => {
  const mx = Array.from({ length: 5 }, (_, i) => ({ preference: i, exchange: `h${i}.many.test` }));
  const zone: Record<string, FakeZoneEntry> = {
    "many.test": { mx: [...mx, { preference: 9, exchange: "h0.many.test" }] },
  };
  for (let i = 0; i < 5; i++) zone[`h${i}.many.test`] = { a: [`192.0.2.${i}`] };
  const resolver = new FakeResolver(zone);
  const hosts = hostsOf(await router(resolver, { maxHosts: 3 }).planRoute("many.test"));
  assert.deepEqual(hosts.map((h) => [h.name, h.preference]), [
    ["h0.many.test", 0],
    ["h1.many.test", 1],
    ["h2.many.test", 2],
  ]);
  assert.equal(resolver.count("h3.many.test"), 0);
});

Deno.test("planRoute() rejects with the caller's reason when its signal aborts", async () => {
  const resolver = new FakeResolver(ZONE).fail("example.test", "hang", "MX");
  const abort = new AbortController();
  const pending = router(resolver).planRoute("example.test", abort.signal);
  abort.abort(new Error("deadline"));
  await assert.rejects(pending, /deadline/);
});

Deno.test("routeTargets() flattens hosts into addresses to try in order, without repeats", () => {
  const targets = routeTargets([
    { name: "a.test", port: 25, preference: 10, addresses: ["2001:db8::1", "192.0.2.1"] },
    { name: "b.test", port: 25, preference: 20, addresses: ["192.0.2.1", "192.0.2.2"] },
  ]);
  assert.deepEqual(targets, [
    { host: "a.test", address: "2001:db8::1", port: 25, preference: 10 },
    { host: "a.test", address: "192.0.2.1", port: 25, preference: 10 },
    { host: "b.test", address: "192.0.2.2", port: 25, preference: 20 },
  ]);
});
