/**
 * One contract, two resolvers: the FakeResolver used by routing tests, and WireResolver against
 * a real DNS server on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver, type FakeZoneEntry } from "../../_fakes/fake_resolver.ts";
import { DnsServer } from "../../_fakes/dns_server.ts";
import { WireResolver } from "../../../relay/dns/wire_resolver.ts";
import type { Resolver } from "../../../relay/dns/resolver.ts";

const ZONE: Record<string, FakeZoneEntry> = {
  "example.test": {
    mx: [{ preference: 10, exchange: "mx1.example.test" }, {
      preference: 20,
      exchange: "mx2.example.test",
    }],
    a: ["192.0.2.80"],
  },
  "mx1.example.test": { a: ["127.0.0.1", "192.0.2.1"], aaaa: ["::1", "2001:db8:0:0:0:0:0:25"] },
  "null.test": { mx: [{ preference: 0, exchange: "." }] },
  "_mta-sts.example.test": { txt: ["v=STSv1; id=1;", "another record"] },
};

interface Subject {
  readonly name: string;
  /** What "the name does not exist", "no such type" and "server failure" look like. */
  readonly nxdomain: string;
  readonly nodata: string;
  readonly servfail: string;
  setup(): Promise<{ resolver: Resolver; close(): Promise<void> }>;
}

const subjects: Subject[] = [
  {
    name: "FakeResolver",
    nxdomain: "nxdomain",
    nodata: "nodata",
    servfail: "error",
    setup() {
      const resolver = new FakeResolver(ZONE).fail("broken.test", "error");
      return Promise.resolve({ resolver, close: () => Promise.resolve() });
    },
  },
  {
    name: "WireResolver",
    nxdomain: "nxdomain",
    nodata: "nodata",
    servfail: "error",
    async setup() {
      const server = await DnsServer.start({ zone: ZONE, servfail: ["broken.test"] });
      const resolver = new WireResolver({
        clock: new FakeClock(),
        nameServers: [server.nameServer],
        attempts: 1,
      });
      return { resolver, close: () => server.close() };
    },
  },
];

for (const subject of subjects) {
  Deno.test(`${subject.name}.resolve() follows the resolver contract`, async (t) => {
    const { resolver, close } = await subject.setup();
    try {
      await t.step(
        "MX records come with preference and exchange without the root dot",
        async () => {
          const answer = await resolver.resolve("example.test", "MX");
          assert.equal(answer.kind, "records");
          assert.ok(answer.kind === "records" && answer.ttl > 0);
          const records = answer.kind === "records" ? answer.records : [];
          assert.deepEqual(
            [...records].sort((a, b) => a.preference - b.preference),
            [
              { preference: 10, exchange: "mx1.example.test" },
              { preference: 20, exchange: "mx2.example.test" },
            ],
          );
        },
      );
      await t.step("names compare without case or trailing dot", async () => {
        const answer = await resolver.resolve("Example.TEST.", "MX");
        assert.equal(answer.kind, "records");
      });
      await t.step("the null MX has exchange ''", async () => {
        const answer = await resolver.resolve("null.test", "MX");
        assert.deepEqual(answer.kind === "records" ? answer.records : answer, [
          { preference: 0, exchange: "" },
        ]);
      });
      await t.step("A and AAAA records are addresses in canonical text form", async () => {
        const a = await resolver.resolve("mx1.example.test", "A");
        const aaaa = await resolver.resolve("mx1.example.test", "AAAA");
        assert.deepEqual(a.kind === "records" ? [...a.records].sort() : a, [
          "127.0.0.1",
          "192.0.2.1",
        ]);
        const six = aaaa.kind === "records" ? [...aaaa.records].sort() : aaaa;
        assert.deepEqual(six, ["2001:db8::25", "::1"]);
      });
      await t.step("TXT records come back one string per record", async () => {
        const answer = await resolver.resolve("_mta-sts.example.test", "TXT");
        assert.deepEqual(answer.kind === "records" ? [...answer.records].sort() : answer, [
          "another record",
          "v=STSv1; id=1;",
        ]);
      });
      await t.step(`a missing name is ${subject.nxdomain}`, async () => {
        const answer = await resolver.resolve("nope.test", "MX");
        assert.equal(answer.kind, subject.nxdomain);
      });
      await t.step(`a name without that type is ${subject.nodata}`, async () => {
        const answer = await resolver.resolve("mx1.example.test", "MX");
        assert.equal(answer.kind, subject.nodata);
      });
      await t.step(`a server failure is ${subject.servfail}`, async () => {
        const answer = await resolver.resolve("broken.test", "MX");
        assert.equal(answer.kind, subject.servfail);
      });
    } finally {
      await close();
    }
  });
}
