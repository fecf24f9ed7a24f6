import assert from "node:assert/strict";
import { supervisorDomainState } from "../../../relay/admin/supervisor_state.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";

Deno.test("supervisorDomainState() maps actor snapshots and remembers since when a domain is down", async () => {
  const clock = new FakeClock();
  let unreachableUntil: number | null = null;
  const provider = supervisorDomainState({
    clock,
    rateOf: (d) => d === "a.test" ? "100/m" : undefined,
    describe: () => [{
      key: "mx.shared.test",
      domains: ["a.test", "b.test"],
      state: {
        queued: 2,
        inFlight: 1,
        connections: 1,
        connectionLimit: 4,
        budgetAvailable: 37.6,
        unreachableUntil,
        suspendedUntil: null,
        lastReply: "451 4.7.1 try later",
      },
    }, { key: "c.test", domains: ["c.test"], state: { queued: 0, inFlight: 0 } }],
  });
  const [a, b, c] = await provider.domainState();
  assert.deepEqual(a, {
    domain: "a.test",
    state: "sending",
    inFlight: 3,
    connections: 1,
    connectionLimit: 4,
    rateBudget: { available: 37, rate: "100/m" },
    actor: "mx.shared.test",
    backoffUntil: null,
    unreachableSince: null,
    lastReply: { code: 451, text: "451 4.7.1 try later" },
  });
  assert.equal(b!.actor, "mx.shared.test");
  assert.deepEqual([c!.state, c!.actor], ["idle", null]);
  assert.deepEqual((await provider.domainState("b.test")).map((s) => s.domain), ["b.test"]);

  const downAt = clock.now();
  unreachableUntil = downAt + 60_000;
  await clock.advance(30_000);
  unreachableUntil = clock.now() + 60_000;
  const [later] = await provider.domainState("a.test");
  assert.equal(later!.state, "unreachable");
  assert.equal(later!.unreachableSince!.getTime(), downAt + 30_000);
  await clock.advance(60_000);
  unreachableUntil = clock.now() + 60_000;
  const [still] = await provider.domainState("a.test");
  assert.equal(still!.unreachableSince!.getTime(), downAt + 30_000, "the outage's start is kept");
  unreachableUntil = null;
  assert.equal((await provider.domainState("a.test"))[0]!.unreachableSince, null);
});
