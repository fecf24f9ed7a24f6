/**
 * The supervisor keeps destinations' limits in a DestinationStateStore: batched saves while an
 * actor runs, a last save when it stops, a restore when the next actor of the destination
 * starts, on this instance or another; nothing saved for a lease that was lost. On the
 * FakeClock with the in-memory queue and store; the real PostgreSQL store is fenced the same way
 * (tests/db/destination_state_test.ts).
 */
import assert from "node:assert/strict";
import { Supervisor } from "../../actors/supervisor.ts";
import { createDomainActor } from "../../actors/create_actor.ts";
import { OutcomeBatcher } from "../../actors/outcome_batcher.ts";
import { DEFAULT_POLICY, type DomainPolicy } from "../../actors/policy.ts";
import type {
  ActorLogEvent,
  Delivery,
  DestinationStateStore,
  RecipientResult,
} from "../../actors/ports.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";
import { FakeDeliverer, ok, until } from "../_fakes/fake_deliverer.ts";
import { MemoryQueue } from "../_fakes/memory_queue.ts";
import { MemoryDestinationStates } from "../_fakes/memory_destination_states.ts";

const SECOND = 1_000;
const MINUTE = 60_000;
const DOMAIN = "limited.test";
/** "100/m" with a burst of 20: at most 119 in any minute, 20 back to back after a quiet spell. */
const RATE = { count: 100, perMs: MINUTE, burst: 20 };
const POLICY: DomainPolicy = { ...DEFAULT_POLICY, rates: [RATE], maxRecipientsPerTransaction: 1 };

let nextId = 1;
function deliveries(n: number, clock: FakeClock): Delivery[] {
  return Array.from({ length: n }, () => {
    const id = nextId++;
    return {
      id,
      outboxId: id,
      recipient: `r${id}@${DOMAIN}`,
      domain: DOMAIN,
      priority: 1,
      attempts: 0,
      expiresAt: clock.now() + 86_400_000,
      smtputf8: false,
      leaseToken: 0,
      leaseExpiresAt: 0,
    };
  });
}

/** One relay instance: a supervisor on its own view of the shared queue and store. */
function instance(
  clock: FakeClock,
  queue: MemoryQueue,
  states: DestinationStateStore | undefined,
  sent: number[],
) {
  const events: ActorLogEvent[] = [];
  const logger = { log: (e: ActorLogEvent) => events.push(e) };
  const deliverer = new FakeDeliverer({
    send: (_id, rs): RecipientResult[] => {
      sent.push(clock.now());
      return rs.map(ok);
    },
  });
  const batcher = new OutcomeBatcher((o) => queue.record(o));
  const supervisor = new Supervisor({
    queue,
    clock,
    logger,
    ...(states ? { states } : {}),
    createActor: (key, domain, restored) =>
      createDomainActor(key, domain, POLICY, {
        clock,
        random: () => 0.5,
        deliverer,
        record: (o) => batcher.record(o),
        logger,
      }, restored),
    options: { drainMs: 5_000, domainLeaseMs: 15_000, actorIdleMs: 10 * MINUTE },
  });
  const stop = new AbortController();
  const done = supervisor.run(stop.signal).then(() => batcher.flush());
  return {
    events,
    supervisor,
    async stop() {
      stop.abort();
      let finished = false;
      const end = done.then(() => (finished = true));
      for (let i = 0; i < 1000 && !finished; i++) await clock.advance(10);
      await end;
    },
  };
}

/** Moves fake time by `ms` in 10 ms steps, letting the actors' I/O settle at each. */
async function runFor(clock: FakeClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    await until(() => true);
    await clock.advance(10);
  }
}

/** The most sends in any half-open window [t, t + width). */
function busiest(times: readonly number[], width: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let j = 0;
  for (let i = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= width) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

/**
 * 20 s on instance a, a restart of a, 20 s more, then b starts and a stops: the lease moves to
 * b, which sends for the rest of the minute and a bit. Returns the send times.
 */
async function restartAndMove(persist: boolean) {
  const clock = new FakeClock();
  const queueA = new MemoryQueue("a");
  const store = new MemoryDestinationStates(new Map(), queueA);
  const states = (q: MemoryQueue) => persist ? store.as(q) : undefined;
  queueA.add(deliveries(400, clock));
  const sent: number[] = [];
  const a1 = instance(clock, queueA, states(queueA), sent);
  await runFor(clock, 20 * SECOND);
  await a1.stop();
  const savesOfA1 = store.saves.length;
  const queueA2 = queueA.peer("a");
  const a2 = instance(clock, queueA2, states(queueA2), sent);
  await runFor(clock, 20 * SECOND);
  const queueB = queueA.peer("b");
  const b = instance(clock, queueB, states(queueB), sent);
  await runFor(clock, SECOND);
  assert.equal(queueA.leases.get(DOMAIN)?.owner, "a", "a holds the lease while it runs");
  await a2.stop();
  await runFor(clock, 30 * SECOND);
  assert.equal(queueA.leases.get(DOMAIN)?.owner, "b", "the lease moved to b");
  await b.stop();
  return { sent, store, savesOfA1 };
}

Deno.test("Supervisor: the budget holds across a restart and a lease move when states persist", async () => {
  const { sent, store, savesOfA1 } = await restartAndMove(true);
  const most = busiest(sent, MINUTE);
  console.log(`persisted: ${sent.length} sent, most in any minute ${most}`);
  assert.ok(most <= RATE.count + RATE.burst - 1, `${most} in one minute`);
  // Saved in batches, not per message: at most one save a second, plus one per actor stop.
  assert.ok(savesOfA1 <= 22, `${savesOfA1} saves in a's first 20 s`);
  assert.ok(sent.length > 50);
  assert.ok(store.saves.every((s) => s.states.every((w) => w.key === DOMAIN)));
});

Deno.test("Supervisor: without a store, each restart and lease move spends the burst again", async () => {
  const { sent } = await restartAndMove(false);
  const most = busiest(sent, MINUTE);
  console.log(`in memory only: ${sent.length} sent, most in any minute ${most}`);
  assert.ok(most > RATE.count + RATE.burst - 1, `${most} in one minute`);
});

Deno.test("Supervisor saves a changed state once per flush interval, and not again while unchanged", async () => {
  const clock = new FakeClock();
  const queue = new MemoryQueue("a");
  const store = new MemoryDestinationStates(new Map(), queue);
  queue.add(deliveries(30, clock));
  const sent: number[] = [];
  const a = instance(clock, queue, store, sent);
  await runFor(clock, 10 * SECOND);
  const saves = store.saves.length;
  assert.ok(sent.length >= 20, `${sent.length} sent`);
  assert.ok(saves >= 5 && saves <= 11, `${saves} saves for ${sent.length} sends in 10 s`);
  // Every message was sent by 20 s; the state stops changing, and so do the saves.
  await runFor(clock, 20 * SECOND);
  const settled = store.saves.length;
  await runFor(clock, 10 * SECOND);
  assert.equal(store.saves.length, settled, "an unchanged state is not written again");
  const tat = store.rows.get(DOMAIN)!.state.rates[0]!.tat!;
  assert.ok(tat > sent.at(-1)!, "the saved TAT is past the last send");
  await a.stop();
});

Deno.test("Supervisor saves nothing for a lease it lost; a flush before it noticed is refused", async () => {
  const clock = new FakeClock();
  const queue = new MemoryQueue("a");
  const store = new MemoryDestinationStates(new Map(), queue);
  queue.add(deliveries(200, clock));
  const sent: number[] = [];
  const a = instance(clock, queue, store, sent);
  await runFor(clock, 3 * SECOND);
  assert.equal(store.rows.get(DOMAIN)?.owner, "a");
  // Another instance takes the destination over (a stalled past its lease, say) and saves.
  const theirs = { ...store.rows.get(DOMAIN)!, owner: "b" };
  queue.leases.set(DOMAIN, { owner: "b", expiresAt: clock.now() + MINUTE });
  store.rows.set(DOMAIN, theirs);
  const before = store.saves.length;
  await runFor(clock, 8 * SECOND);
  assert.ok(store.saves.length > before, "a flushed before its renewal noticed");
  assert.equal(store.rows.get(DOMAIN), theirs, "but b's state was not overwritten");
  assert.ok(a.events.some((e) => e.event === "state.refused"));
  assert.ok(a.events.some((e) => e.event === "domain.lost"));
  const afterLoss = store.saves.length;
  await a.stop();
  assert.equal(store.saves.length, afterLoss, "no last save for a lost lease");
});

Deno.test("Supervisor gives a destination's lease back when its saved state cannot be read", async () => {
  const clock = new FakeClock();
  const queue = new MemoryQueue("a");
  let broken = true;
  const memory = new MemoryDestinationStates(new Map(), queue);
  const store: DestinationStateStore = {
    load: (keys) => broken ? Promise.reject(new Error("store away")) : memory.load(keys),
    save: (states, now) => memory.save(states, now),
  };
  queue.add(deliveries(5, clock));
  const sent: number[] = [];
  const a = instance(clock, queue, store, sent);
  await runFor(clock, SECOND);
  assert.equal(sent.length, 0, "no actor started without its state");
  assert.equal(a.supervisor.actors().length, 0);
  assert.equal(queue.leases.has(DOMAIN), false, "the lease went back");
  assert.ok(a.events.some((e) => e.event === "loop.failed" && e.error === "store away"));
  broken = false;
  await runFor(clock, 5 * SECOND);
  assert.equal(sent.length, 5);
  await a.stop();
});
