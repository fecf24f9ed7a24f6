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
    connectionMax: null,
    rateBudget: { available: 37, rate: "100/m", adaptivePerSecond: null, nextFreeAt: null },
    pausedUntil: null,
    lastThrottle: null,
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

Deno.test("supervisorDomainState() shows the configured rates, the adaptive rate, the maximum and the throttled state", async () => {
  const clock = new FakeClock();
  const now = clock.now();
  const provider = supervisorDomainState({
    clock,
    rateOf: () => "ignored when the actor says",
    describe: () => [{
      key: "a.test",
      domains: ["a.test"],
      state: {
        queued: 3,
        inFlight: 0,
        connections: 2,
        connectionLimit: 1,
        budgetAvailable: 0,
        limits: {
          rates: [{ count: 100, perMs: 60_000, burst: 1 }, {
            count: 5000,
            perMs: 3_600_000,
            burst: 20,
          }],
          adaptivePerSecond: 0.5,
          nextFreeAt: now + 2_000,
          maxConnections: 3,
        },
        pausedUntil: now + 1_000,
        lastThrottle: { reply: "451 4.7.28 slow down", at: now - 10 },
      },
    }],
  });
  const [a] = await provider.domainState();
  assert.equal(a!.connectionMax, 3);
  assert.deepEqual(a!.rateBudget, {
    available: 0,
    rate: "100/m, 5000/h (burst 20)",
    adaptivePerSecond: 0.5,
    nextFreeAt: new Date(now + 2_000),
  });
  assert.deepEqual(a!.pausedUntil, new Date(now + 1_000));
  assert.deepEqual(a!.lastThrottle, { text: "451 4.7.28 slow down", at: new Date(now - 10) });
});
