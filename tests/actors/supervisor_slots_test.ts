import assert from "node:assert/strict";
import { Supervisor } from "../../actors/supervisor.ts";
import { DomainActor } from "../../actors/domain_actor.ts";
import { OutcomeBatcher } from "../../actors/outcome_batcher.ts";
import type { Delivery, DestinationState, RecipientResult } from "../../actors/ports.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";
import { FakeDeliverer, until } from "../_fakes/fake_deliverer.ts";
import { MemoryQueue } from "../_fakes/memory_queue.ts";
import { MemoryDestinationStates } from "../_fakes/memory_destination_states.ts";

let nextId = 1;
function delivery(domain: string, clock: FakeClock): Delivery {
  const id = nextId++;
  return {
    id,
    outboxId: id,
    recipient: `r${id}@${domain}`,
    domain,
    priority: 1,
    attempts: 0,
    expiresAt: clock.now() + 86_400_000,
    smtputf8: false,
    leaseToken: 0,
    leaseExpiresAt: 0,
  };
}

const greylisted = (): RecipientResult => ({
  kind: "transient",
  scope: "recipient",
  code: 451,
  enhanced: "4.7.1",
  reply: "451 4.7.1 Try again later",
});

/** Ten destinations of one delivery each whose receiver answers 451 at RCPT, two actor slots. */
function setup(withStates = false, maxActors = 2, count = 10) {
  const clock = new FakeClock();
  const queue = new MemoryQueue();
  const states = withStates ? new MemoryDestinationStates(new Map(), queue) : undefined;
  const restored: { domain: string; state: DestinationState | undefined }[] = [];
  const deliverer = new FakeDeliverer({ send: (_, rs) => rs.map(greylisted) });
  const batcher = new OutcomeBatcher((o) => queue.record(o));
  const unlimited = { tryTake: () => ({ ok: true as const }), available: () => 1000 };
  let peakActors = 0;
  const supervisor = new Supervisor({
    queue,
    clock,
    logger: { log: () => {} },
    ...(states ? { states } : {}),
    createActor: (domain, _, state) => (restored.push({ domain, state }),
      new DomainActor({
        domain,
        policy: {
          messagesPerConnection: 100,
          // The session stays open for the next message long after the deferral.
          idleTimeoutMs: 60_000,
          maxRecipientsPerTransaction: 50,
          queueCapacity: 50,
          leaseMarginMs: 1_000,
        },
        clock,
        random: () => 0.5,
        deliverer,
        budget: unlimited,
        concurrency: {
          limit: () => 1,
          unreachableUntil: () => undefined,
          connected() {},
          connectFailed() {},
          success() {},
          throttled() {},
        },
        planRetry: ({ now }) => ({ kind: "retry", at: now + 300_000 }),
        record: (o) => batcher.record(o),
        logger: { log: () => {} },
        saveState: () => ({
          version: 1,
          rates: [],
          connectionRates: [],
          adaptiveRate: {
            meter: { windowStart: null, current: 0, previous: 0 },
            tat: null,
            lastTakeAt: null,
            limit: null,
          },
          concurrency: { kind: "probing", strikes: deliverer.transactions.length },
        }),
      })),
    metrics: { setActors: (n) => (peakActors = Math.max(peakActors, n)) },
    options: { maxActors, actorIdleMs: 30_000, domainLeaseMs: 15_000, drainMs: 5_000 },
  });
  const domains = Array.from({ length: count }, (_, i) => `d${i}.test`);
  queue.add(domains.map((d) => delivery(d, clock)));
  return {
    clock,
    queue,
    deliverer,
    supervisor,
    domains,
    states,
    restored,
    peakActors: () => peakActors,
  };
}

/** Runs the supervisor for `ms` of fake time in `step` ms steps, each once its I/O settled. */
async function runFor(t: ReturnType<typeof setup>, ms: number, step = 5) {
  for (let waited = 0; waited < ms; waited += step) {
    await until(() => true);
    await t.clock.advance(step);
  }
}

Deno.test("Supervisor gives a deferred destination's slot back: 10 destinations, 2 slots, all attempted in 1 s", async () => {
  const t = setup();
  const stop = new AbortController();
  const run = t.supervisor.run(stop.signal);
  await runFor(t, 1_000);
  const attempted = new Set(t.deliverer.transactions.map((tx) => tx.recipients[0]!.split("@")[1]));
  assert.deepEqual([...attempted].sort(), t.domains, "every destination attempted");
  assert.ok(t.peakActors() <= 2, `${t.peakActors()} actors at once, over maxActors 2`);
  // Each delivery was claimed and tried once, and is waiting for its retry in the queue.
  assert.equal(t.deliverer.transactions.length, 10, "one attempt per delivery");
  assert.equal(t.queue.recorded.length, 10);
  assert.ok(t.queue.recorded.every((o) => o.status === "deferred"));
  assert.ok(t.queue.rows.every((r) => r.status === "ready" && r.dueAt > t.clock.now()));
  stop.abort();
  await run;
  assert.equal(t.queue.leases.size, 0, "leases released on stop");
});

Deno.test("Supervisor saves the state of an actor that gives its slot back, and the destination's next actor starts from it", async () => {
  const t = setup(true);
  const stop = new AbortController();
  const run = t.supervisor.run(stop.signal);
  await runFor(t, 1_000);
  // Saved under the lease (the store refuses a write without it), before the lease went back.
  const held = t.supervisor.snapshot().domains;
  const gaveBack = t.domains.filter((d) => !held.includes(d));
  assert.ok(gaveBack.length >= 8, `${gaveBack.length} destinations gave their slot back`);
  const first = await t.states!.load(gaveBack);
  assert.deepEqual([...first.keys()].sort(), gaveBack, "their states saved");
  assert.deepEqual([...t.queue.leases.keys()].sort(), held, "no lease kept without an actor");
  // Once the retries are due, each destination gets a new actor, which starts from its state.
  await runFor(t, 297_000, 1_000);
  const saved = await t.states!.load(t.domains);
  assert.equal(saved.size, 10);
  t.restored.length = 0;
  await runFor(t, 5_000, 5);
  assert.deepEqual([...new Set(t.restored.map((r) => r.domain))].sort(), t.domains);
  for (const r of t.restored) {
    assert.deepEqual(r.state, saved.get(r.domain), `${r.domain} starts from its saved state`);
  }
  assert.equal(t.deliverer.transactions.length, 20, "each delivery tried once more");
  stop.abort();
  await run;
});

Deno.test("Supervisor does not take a destination up again while its actor is still stopping", async () => {
  const t = setup(false, 3, 1);
  const release = t.queue.releaseDomains.bind(t.queue);
  const held = Promise.withResolvers<void>();
  let holding = false;
  t.queue.releaseDomains = async (domains) => {
    if (holding) await held.promise;
    return release(domains);
  };
  const stop = new AbortController();
  const run = t.supervisor.run(stop.signal);
  await runFor(t, 200);
  assert.equal(t.deliverer.transactions.length, 1);
  // Its lease is being released (held here) when new mail for it arrives: the stop is not over.
  holding = true;
  await runFor(t, 60_000, 1_000); // the session's idle timeout: the actor has nothing left
  t.queue.add([delivery("d0.test", t.clock)]);
  for (let i = 0; i < 40; i++) {
    await runFor(t, 5);
    if (i === 20) held.resolve();
    // Every destination an actor serves is under this instance's lease.
    for (const d of t.supervisor.snapshot().domains) {
      assert.equal(t.queue.leases.get(d)?.owner, t.queue.owner, `${d} served without its lease`);
    }
  }
  await runFor(t, 500);
  assert.equal(t.deliverer.transactions.length, 2, "the new delivery tried, once");
  stop.abort();
  await run;
});
