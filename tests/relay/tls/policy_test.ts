import assert from "node:assert/strict";
import { BrokenTlsPeers, decideTls, TLS_POLICIES } from "../../../relay/tls/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";

Deno.test("decideTls() gives the whole policy table", () => {
  const table = TLS_POLICIES.flatMap((policy) =>
    [[true, false], [true, true], [false, false]].map(([offered, rememberedBroken]) => {
      const d = decideTls(policy, { offered: offered!, rememberedBroken: rememberedBroken! });
      return `${policy} offered=${offered} broken=${rememberedBroken}: ${d.kind}${
        d.kind === "starttls" ? ` verify=${d.verify}` : ` (${d.reason})`
      }`;
    })
  );
  assert.deepEqual(table, [
    "opportunistic offered=true broken=false: starttls verify=false",
    "opportunistic offered=true broken=true: plaintext (remembered-broken)",
    "opportunistic offered=false broken=false: plaintext (not-offered)",
    "required offered=true broken=false: starttls verify=false",
    "required offered=true broken=true: starttls verify=false",
    "required offered=false broken=false: refuse (not-offered)",
    "verified offered=true broken=false: starttls verify=true",
    "verified offered=true broken=true: starttls verify=true",
    "verified offered=false broken=false: refuse (not-offered)",
    "disabled offered=true broken=false: plaintext (disabled)",
    "disabled offered=true broken=true: plaintext (disabled)",
    "disabled offered=false broken=false: plaintext (disabled)",
  ]);
});

Deno.test("BrokenTlsPeers.isBroken() forgets a peer after the TTL, on the injected clock", async () => {
  const clock = new FakeClock();
  const memory = new BrokenTlsPeers({ clock, ttlMs: 60_000 });
  memory.remember("MX.Example.net", "handshake failure");
  assert.equal(memory.isBroken("mx.example.net"), true);
  await clock.advance(59_999);
  assert.equal(memory.isBroken("mx.example.net"), true);
  await clock.advance(1);
  assert.equal(memory.isBroken("mx.example.net"), false);
  assert.deepEqual(memory.list(), []);
});

Deno.test("BrokenTlsPeers.remember() evicts the oldest peer beyond maxEntries", () => {
  const memory = new BrokenTlsPeers({ clock: new FakeClock(), maxEntries: 2 });
  for (const peer of ["a", "b", "c"]) memory.remember(peer, "x");
  assert.deepEqual(memory.list().map((e) => e.peer), ["b", "c"]);
  memory.forget("b");
  assert.deepEqual(memory.list().map((e) => e.peer), ["c"]);
  assert.throws(
    () => new BrokenTlsPeers({ clock: new FakeClock(), ttlMs: 0 }),
    /'ttlMs' must be > 0/,
  );
});
