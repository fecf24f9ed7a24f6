/**
 * planRoute() end to end: the real resolver asking a real (tiny) DNS server on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { DnsServer } from "../../_fakes/dns_server.ts";
import { CachingResolver } from "../../../relay/dns/cache.ts";
import { createRouter } from "../../../relay/dns/route.ts";
import { WireResolver } from "../../../relay/dns/wire_resolver.ts";

const ZONE = {
  "example.test": {
    mx: [
      { preference: 10, exchange: "mx1.example.test" },
      { preference: 20, exchange: "mx2.example.test" },
    ],
  },
  "mx1.example.test": { a: ["127.0.0.1"], aaaa: ["::1"] },
  "mx2.example.test": { a: ["127.0.0.2"] },
  "plain.test": { a: ["127.0.0.3"] },
  "null.test": { mx: [{ preference: 0, exchange: "." }] },
};

Deno.test("planRoute() over WireResolver routes, bounces and defers as the DNS server says", async () => {
  await using server = await DnsServer.start({ zone: ZONE, servfail: ["broken.test"] });
  const clock = new FakeClock();
  const resolver = new CachingResolver(
    new WireResolver({ clock, nameServers: [server.nameServer], attempts: 1 }),
    { clock },
  );
  const router = createRouter({ resolver, random: () => 0 });
  assert.deepEqual(await router.planRoute("example.test"), {
    kind: "hosts",
    via: "mx",
    hosts: [
      { name: "mx1.example.test", port: 25, preference: 10, addresses: ["::1", "127.0.0.1"] },
      { name: "mx2.example.test", port: 25, preference: 20, addresses: ["127.0.0.2"] },
    ],
    unresolved: [],
  });
  const plain = await router.planRoute("plain.test");
  assert.equal(plain.kind === "hosts" ? plain.via : plain.kind, "implicit-mx");
  assert.equal((await router.planRoute("null.test")).kind, "permanent");
  assert.equal((await router.planRoute("nope.test")).kind, "permanent");
  assert.equal((await router.planRoute("broken.test")).kind, "transient");

  // A second plan comes from the cache: the server sees no new question.
  const asked = server.queries.length;
  await router.planRoute("example.test");
  assert.equal(server.queries.length, asked);
});
