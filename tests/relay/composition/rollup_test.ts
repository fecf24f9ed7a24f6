import assert from "node:assert/strict";
import { rollupKey } from "../../../relay/composition/relay.ts";
import { createRouter } from "../../../relay/dns/mod.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";

function router() {
  const resolver = new FakeResolver()
    .set("a.test", {
      mx: [{ preference: 10, exchange: "mx2.host.test" }, {
        preference: 5,
        exchange: "mx1.host.test",
      }],
    })
    .set("b.test", {
      mx: [{ preference: 1, exchange: "MX1.host.test" }, {
        preference: 2,
        exchange: "mx2.host.test",
      }],
    })
    .set("c.test", { mx: [{ preference: 10, exchange: "mx.other.test" }] })
    .set("d.test", { a: ["192.0.2.9"] })
    .set("mx1.host.test", { a: ["192.0.2.1"] })
    .set("mx2.host.test", { a: ["192.0.2.2"] })
    .set("mx.other.test", { a: ["192.0.2.3"] });
  return createRouter({ resolver, random: () => 0.5 });
}

Deno.test("rollupKey() groups domains by their set of MX hosts", async () => {
  const key = rollupKey(router(), {});
  assert.equal(await key("a.test"), "mx:mx1.host.test,mx2.host.test");
  assert.equal(
    await key("b.test"),
    "mx:mx1.host.test,mx2.host.test",
    "same hosts, other preferences",
  );
  assert.equal(await key("c.test"), "mx:mx.other.test");
  assert.equal(await key("d.test"), "d.test", "implicit MX is not rolled up");
});

Deno.test("rollupKey() keeps a domain on its own when its policy turns rollup off", async () => {
  const key = rollupKey(router(), { "b.test": { mxRollup: false } });
  assert.equal(await key("b.test"), "b.test");
  assert.equal(await key("a.test"), "mx:mx1.host.test,mx2.host.test");
});
