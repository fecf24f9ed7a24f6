/**
 * The policy logic over the real ports: TXT from the test DNS server through WireResolver
 * (and its cache), the policy file from an HTTPS server on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { DnsServer } from "../../_fakes/dns_server.ts";
import { CachingResolver, type Resolver, WireResolver } from "../../../relay/dns/mod.ts";
import {
  httpsPolicyFetcher,
  MemoryMtaStsStore,
  MtaSts,
  mxAllowed,
} from "../../../relay/mta_sts/mod.ts";
import { requirePeer } from "../../_support/peers.ts";
import { hasOpenssl, policyPki } from "./_pki.ts";
import { policyFile, ScriptedWeb } from "./_fakes.ts";

const ZONE = {
  // The record in two character-strings, beside an unrelated TXT record.
  "_mta-sts.example.test": { txt: [["v=STSv1; ", "id=20260101T000000;"], "v=spf1 -all"] },
  "_mta-sts.twice.test": { txt: ["v=STSv1; id=1;", "v=STSv1; id=2;"] },
  "plain.test": { a: ["192.0.2.1"] },
};

const lookupOver = (resolver: Resolver) => (name: string, signal?: AbortSignal) =>
  resolver.resolve(name, "TXT", signal);

Deno.test("the TXT record comes through WireResolver and its cache, strings joined", async () => {
  await using server = await DnsServer.start({ zone: ZONE });
  const clock = new FakeClock();
  const resolver = new CachingResolver(
    new WireResolver({ clock, nameServers: [server.nameServer] }),
    { clock },
  );
  const web = new ScriptedWeb().set(
    "example.test",
    policyFile("testing", 86_400, "mx.example.test"),
  );
  const mtaSts = new MtaSts({
    clock,
    lookupTxt: lookupOver(resolver),
    fetchPolicy: web.fetchPolicy,
    store: new MemoryMtaStsStore(),
  });
  const decision = await mtaSts.policyFor("example.test");
  assert.equal(decision.mode, "testing");
  assert.equal(decision.policy?.id, "20260101T000000");
  const twice = await mtaSts.policyFor("twice.test");
  assert.equal(twice.mode === "none" && twice.reason, "invalid-record");
  const plain = await mtaSts.policyFor("plain.test");
  assert.equal(plain.mode === "none" && plain.reason, "no-record");
  await mtaSts.policyFor("example.test");
  assert.deepEqual(
    server.queries.map((q) => `${q.type} ${q.name}`),
    ["TXT _mta-sts.example.test", "TXT _mta-sts.twice.test", "TXT _mta-sts.plain.test"],
    "the second lookup of example.test came from the DNS cache",
  );
});

Deno.test({
  name: "an enforce policy over DNS and HTTPS on loopback lets only its MX hosts through",
  ignore: requirePeer("openssl", !hasOpenssl),
  async fn() {
    const pki = await policyPki();
    await using dns = await DnsServer.start({ zone: ZONE });
    const https = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: pki.valid.certPem,
      key: pki.valid.keyPem,
      onListen: () => {},
    }, () => new Response(policyFile("enforce", 604_800, "mx1.example.test", "*.backup.test")));
    try {
      const clock = new FakeClock();
      const mtaSts = new MtaSts({
        clock,
        lookupTxt: lookupOver(new WireResolver({ clock, nameServers: [dns.nameServer] })),
        fetchPolicy: httpsPolicyFetcher({
          clock,
          caCerts: [pki.caPem],
          connectTo: { hostname: "127.0.0.1", port: https.addr.port },
        }),
        store: new MemoryMtaStsStore(),
      });
      const decision = await mtaSts.policyFor("example.test");
      assert.equal(decision.mode, "enforce");
      assert.equal(decision.source, "fetched");
      const policy = decision.policy!;
      assert.equal(mxAllowed(policy, "MX1.example.test."), true);
      assert.equal(mxAllowed(policy, "b1.backup.test"), true);
      assert.equal(mxAllowed(policy, "mx.attacker.test"), false);
    } finally {
      await https.shutdown();
    }
  },
});
