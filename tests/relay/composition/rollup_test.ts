import assert from "node:assert/strict";
import { rollupKey } from "../../../relay/composition/relay.ts";
import { createRouter } from "../../../relay/dns/mod.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import type { MtaStsPolicies } from "../../../relay/adapters/smtp_deliverer.ts";
import type { MtaStsDecision, StoredPolicy } from "../../../relay/mta_sts/mod.ts";

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

/** Decisions by domain: a mode, "none" (no record), or "fails" (the store cannot be read). */
function policies(modes: Record<string, "enforce" | "testing" | "none" | "fails">): MtaStsPolicies {
  return {
    policyFor(domain) {
      const mode = modes[domain] ?? "none";
      if (mode === "fails") return Promise.reject(new Error("the policy table cannot be read"));
      if (mode === "none") {
        return Promise.resolve<MtaStsDecision>({ mode: "none", domain, reason: "no-record" });
      }
      const policy: StoredPolicy = {
        domain,
        id: "1",
        mode,
        mx: ["mx1.host.test", "mx2.host.test"],
        maxAge: 86_400,
        fetchedAt: 0,
        expiresAt: 86_400_000,
        lastError: null,
      };
      return Promise.resolve<MtaStsDecision>({ mode, domain, policy, source: "fetched" });
    },
  };
}

Deno.test("rollupKey() keeps a domain with an MTA-STS policy on its own actor", async () => {
  // a.test and b.test share their MX hosts. Grouped, the actor's connections would follow the
  // policy of whichever domain came first (RFC 8461 §5 applies a policy to its own domain).
  for (const mode of ["enforce", "testing", "fails"] as const) {
    const key = rollupKey(router(), {}, policies({ "a.test": mode }));
    assert.equal(await key("a.test"), "a.test", mode);
    assert.equal(await key("b.test"), "mx:mx1.host.test,mx2.host.test", mode);
  }
  const key = rollupKey(router(), {}, policies({}));
  assert.equal(await key("a.test"), "mx:mx1.host.test,mx2.host.test", "no policy: grouped");
});

Deno.test("rollupKey() with DANE keeps a domain whose MX answer is DNSSEC-secure on its own actor", async () => {
  // a.test's MX answer is secure, b.test's is not, and they share their MX hosts. Grouped, the
  // actor's connections would take DANE from whichever domain came first: b.test first, and
  // a.test's mail would reach hosts whose TLSA records were never checked (RFC 7672 §2.2.1).
  const resolver = new FakeResolver()
    .set("a.test", { mx: [{ preference: 10, exchange: "mx1.host.test" }], secure: true })
    .set("b.test", { mx: [{ preference: 10, exchange: "mx1.host.test" }] })
    .set("c.test", { mx: [{ preference: 10, exchange: "mx1.host.test" }], secure: true })
    .set("mx1.host.test", { a: ["192.0.2.1"], secure: true });
  const router = createRouter({ resolver, random: () => 0.5 });
  const key = rollupKey(router, {}, undefined, true);
  assert.equal(await key("a.test"), "a.test");
  assert.equal(await key("c.test"), "c.test", "two secure domains are not grouped either");
  assert.equal(await key("b.test"), "mx:mx1.host.test");
  const withoutDane = rollupKey(router, {}, undefined, false);
  assert.equal(await withoutDane("a.test"), "mx:mx1.host.test", "DANE off: grouped as before");
});
