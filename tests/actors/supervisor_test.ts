import assert from "node:assert/strict";
import { type Actor, Supervisor } from "../../actors/supervisor.ts";
import { DomainActor } from "../../actors/domain_actor.ts";
import { OutcomeBatcher } from "../../actors/outcome_batcher.ts";
import type { Delivery } from "../../actors/ports.ts";
import type { ActorLogEvent as LogEvent } from "../../actors/ports.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";
import { FakeDeliverer, type Script, until } from "../_fakes/fake_deliverer.ts";
import { MemoryQueue } from "../_fakes/memory_queue.ts";

let nextId = 1;
function deliveries(domain: string, n: number, clock: FakeClock, priority = 1): Delivery[] {
  return Array.from({ length: n }, () => ({
    id: nextId++,
    outboxId: nextId,
    recipient: `r${nextId}@${domain}`,
    domain,
    priority,
    attempts: 0,
    expiresAt: clock.now() + 86_400_000,
    smtputf8: false,
    leaseToken: 0,
    leaseExpiresAt: 0,
  }));
}

function setup(script: Script = {}, createActor?: (d: string) => Actor) {
  const clock = new FakeClock();
  const queue = new MemoryQueue();
  const deliverer = new FakeDeliverer(script);
  const events: LogEvent[] = [];
  const batcher = new OutcomeBatcher((o) => queue.record(o));
  const unlimited = { tryTake: () => ({ ok: true as const }), available: () => 1000 };
  const factory = createActor ?? ((domain: string) =>
    new DomainActor({
      domain,
      policy: {
        messagesPerConnection: 100,
        idleTimeoutMs: 5_000,
        maxRecipientsPerTransaction: 50,
        queueCapacity: 50,
        leaseMarginMs: 1_000,
      },
      clock,
      random: () => 0.5,
      deliverer,
      budget: unlimited,
      concurrency: {
        limit: () => 2,
        unreachableUntil: () => undefined,
        connected() {},
        connectFailed() {},
        success() {},
        throttled() {},
      },
      planRetry: ({ now }) => ({ kind: "retry", at: now + 300_000 }),
      record: (o) => batcher.record(o),
      logger: { log: (e) => events.push(e) },
    }));
  const supervisor = new Supervisor({
    queue,
    clock,
    logger: { log: (e) => events.push(e) },
    createActor: factory,
    options: {
      actorIdleMs: 10_000,
      drainMs: 5_000,
      domainLeaseMs: 15_000,
      restartBackoffMs: 1_000,
    },
  });
  return { clock, queue, deliverer, events, supervisor };
}

Deno.test("Supervisor starts one actor per destination and every delivery ends delivered", async () => {
  const t = setup();
  t.queue.add([...deliveries("a.test", 120, t.clock), ...deliveries("b.test", 3, t.clock)]);
  const stop = new AbortController();
  const run = t.supervisor.run(stop.signal);
  for (let i = 0; i < 200 && t.queue.recorded.length < 123; i++) {
    await until(() => true);
    await t.clock.advance(5);
  }
  assert.equal(t.queue.recorded.length, 123);
  assert.ok(t.queue.recorded.every((o) => o.status === "delivered"));
  assert.deepEqual(t.supervisor.snapshot().domains, ["a.test", "b.test"]);
  assert.ok(t.deliverer.maxOpen <= 4, "two connections per destination at most");
  stop.abort();
  await run;
  assert.equal(t.queue.leases.size, 0, "leases released on stop");
});

Deno.test("Supervisor never claims more than an actor can take (backpressure)", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const t = setup({
    send: async (
      _,
      rs,
    ) => (await gate, rs.map(() => ({ kind: "delivered" as const, code: 250, reply: "ok" }))),
  });
  t.queue.add(deliveries("a.test", 500, t.clock));
  const now = t.clock.now();
  await t.supervisor.pass(now);
  await t.supervisor.pass(now);
  const claimed = t.queue.rows.filter((r) => r.status === "claimed").length;
  // The queue capacity (50) plus the one transaction each of the two connections has started.
  assert.ok(claimed <= 52, `claimed ${claimed}, capacity 50 + 2 in flight`);
  release();
  // Drain what was claimed, then stop.
  const stop = new AbortController();
  stop.abort();
  await t.supervisor.run(stop.signal);
});

Deno.test("Supervisor restarts a crashed actor after a pause and hands its queued work back", async () => {
  let crashes = 0;
  const t = setup({}, (domain) => {
    let queued: Delivery[] = [];
    let gotWork!: () => void;
    const work = new Promise<void>((r) => (gotWork = r));
    return {
      domain,
      demand: () => 10,
      offer(ds) {
        queued.push(...ds);
        gotWork();
        return [];
      },
      idle: () => queued.length === 0,
      drain() {
        const q = queued;
        queued = [];
        return q;
      },
      async run() {
        await work;
        crashes++;
        throw new Error("boom");
      },
    };
  });
  t.queue.add(deliveries("a.test", 5, t.clock));
  await t.supervisor.pass(t.clock.now());
  await until(() => t.events.some((e) => e.event === "actor.crashed"));
  await until(() => t.queue.released.length === 5, "queued work handed back");
  const crashed = t.events.find((e) => e.event === "actor.crashed")!;
  assert.equal(crashed.event === "actor.crashed" && crashed.restartAt - t.clock.now(), 1_000);
  await t.supervisor.pass(t.clock.now());
  assert.equal(crashes, 1, "not restarted before the pause ends");
  await t.clock.advance(1_000);
  await t.supervisor.pass(t.clock.now());
  await until(() => crashes === 2, "second crash");
  await until(() => t.events.filter((e) => e.event === "actor.crashed").length === 2);
  const second = t.events.filter((e) => e.event === "actor.crashed")[1]!;
  assert.equal(
    second.event === "actor.crashed" && second.restartAt - t.clock.now(),
    2_000,
    "pause doubles",
  );
});

Deno.test("Supervisor stops an idle actor with nothing due at once and releases its destination", async () => {
  const t = setup();
  t.queue.add(deliveries("a.test", 2, t.clock));
  await t.supervisor.pass(t.clock.now());
  await until(() => t.queue.recorded.length === 2);
  // While its connection is open for more, the actor stays (no other destination waits).
  await t.supervisor.pass(t.clock.now());
  assert.equal(t.supervisor.snapshot().actors, 1);
  await t.clock.advance(5_000); // the connection's idle timeout
  await until(() => t.supervisor.actor("a.test")!.idle(), "actor idle");
  await t.supervisor.pass(t.clock.now());
  assert.equal(t.supervisor.snapshot().actors, 0);
  await until(() => t.queue.leases.size === 0, "lease released");
});

Deno.test("Supervisor stops sending for a destination whose lease another instance took", async () => {
  const t = setup({ send: () => new Promise(() => {}) });
  t.queue.add(deliveries("a.test", 3, t.clock));
  await t.supervisor.pass(t.clock.now());
  assert.equal(t.supervisor.snapshot().actors, 1);
  // Another instance takes over after our lease ran out.
  t.queue.leases.set("a.test", { owner: "other", expiresAt: t.clock.now() + 60_000 });
  await t.clock.advance(6_000);
  await t.supervisor.pass(t.clock.now());
  assert.equal(t.supervisor.snapshot().actors, 0);
  assert.ok(t.events.some((e) => e.event === "domain.lost"));
});

Deno.test("Supervisor.drain() lets in-flight work finish within the deadline, then aborts it", async () => {
  const t = setup({
    send: (_, rs) =>
      new Promise((resolve) =>
        setTimeout(
          () => resolve(rs.map(() => ({ kind: "delivered" as const, code: 250, reply: "ok" }))),
          0,
        )
      ),
  });
  t.queue.add(deliveries("a.test", 60, t.clock));
  await t.supervisor.pass(t.clock.now());
  await until(() => t.deliverer.transactions.length > 0);
  await t.supervisor.drain();
  const claimed = t.queue.rows.filter((r) => r.status === "claimed").length;
  assert.equal(claimed, 0, "nothing left on lease: sent or handed back");
  assert.equal(t.deliverer.open, 0);
});

Deno.test("Supervisor rolls destinations with the same MX group into one actor", async () => {
  const created: string[] = [];
  const clock = new FakeClock();
  const queue = new MemoryQueue();
  const deliverer = new FakeDeliverer();
  const batcher = new OutcomeBatcher((o) => queue.record(o));
  const connectedTo: string[] = [];
  const supervisor = new Supervisor({
    queue,
    clock,
    logger: { log: () => {} },
    destinationOf: (d) => Promise.resolve(d === "solo.test" ? d : "mx:shared.test"),
    createActor: (key, domain) => {
      created.push(`${key} via ${domain}`);
      return new DomainActor({
        domain: key,
        connectTo: domain,
        policy: {
          messagesPerConnection: 100,
          idleTimeoutMs: 5_000,
          maxRecipientsPerTransaction: 50,
          queueCapacity: 50,
          leaseMarginMs: 1_000,
        },
        clock,
        random: () => 0.5,
        deliverer: { connect: (d, s) => (connectedTo.push(d), deliverer.connect(d, s)) },
        budget: { tryTake: () => ({ ok: true }), available: () => 1000 },
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
      });
    },
  });
  queue.add([
    ...deliveries("a.test", 3, clock),
    ...deliveries("b.test", 3, clock),
    ...deliveries("solo.test", 1, clock),
  ]);
  for (let i = 0; i < 50 && queue.recorded.length < 7; i++) {
    await supervisor.pass(clock.now());
    await until(() => true);
  }
  assert.equal(queue.recorded.length, 7);
  assert.deepEqual(created.sort(), ["mx:shared.test via a.test", "solo.test via solo.test"]);
  assert.deepEqual(supervisor.membersOf("mx:shared.test"), ["a.test", "b.test"]);
  assert.equal(supervisor.actor("b.test"), supervisor.actor("a.test"));
  assert.ok(deliverer.maxOpen <= 2, "one connection for the group, one for solo");
  assert.ok(connectedTo.every((d) => d === "a.test" || d === "solo.test"));
  await supervisor.drain();
});

Deno.test("Supervisor.handBack() returns one domain's queued work to the queue, due later", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const t = setup({
    send: async (
      _,
      rs,
    ) => (await gate, rs.map(() => ({ kind: "delivered" as const, code: 250, reply: "ok" }))),
  });
  t.queue.add(deliveries("a.test", 20, t.clock));
  await t.supervisor.pass(t.clock.now());
  await until(() => t.deliverer.transactions.length === 2, "two transactions in flight");
  const until_ = t.clock.now() + 3_600_000;
  const handed = await t.supervisor.handBack("a.test", until_);
  // Only what can start soon was claimed: 2 connections, each with 2 queued behind it.
  assert.equal(handed, 2, "everything claimed but the two in flight");
  const ready = t.queue.rows.filter((r) => r.status === "ready");
  assert.equal(ready.length, 18, "16 never claimed, 2 handed back");
  assert.equal(ready.filter((r) => r.dueAt === until_).length, 2);
  const described = t.supervisor.describe(t.clock.now());
  assert.deepEqual(described.map((d) => d.domains), [["a.test"]]);
  assert.equal((described[0]!.state as { inFlight: number }).inFlight, 2);
  release();
  await t.supervisor.drain();
});

Deno.test("Supervisor.wake() during a pass starts work committed after that pass's claim, without a clock tick", async () => {
  const t = setup();
  t.queue.add(deliveries("a.test", 1, t.clock));
  const stop = new AbortController();
  const run = t.supervisor.run(stop.signal);
  await until(() => t.queue.recorded.length === 1, "the first delivery recorded");
  // The destination's actor is held and idle. Ingestion commits a delivery for it just after
  // a pass claimed (nothing), and wakes the supervisor while that pass is still running.
  const claimMany = t.queue.claimMany.bind(t.queue);
  let injected = false;
  t.queue.claimMany = async (requests, now) => {
    const claimed = await claimMany(requests, now);
    if (!injected) {
      injected = true;
      t.queue.add(deliveries("a.test", 1, t.clock));
      t.supervisor.wake();
    }
    return claimed;
  };
  t.supervisor.wake(); // a pass now, with the hook in place
  await until(() => t.queue.recorded.length === 2, "the delivery ingested mid-pass recorded");
  assert.ok(injected);
  assert.equal(t.clock.now(), Date.UTC(2026, 0, 1), "no clock advance was needed");
  stop.abort();
  await run;
});

Deno.test("Supervisor.requestsFor() asks only for held destinations whose actor has room", async () => {
  const t = setup();
  t.queue.add(deliveries("a.test", 1, t.clock));
  await t.supervisor.pass(t.clock.now());
  await until(() => t.queue.recorded.length === 1, "the first delivery recorded");
  // a.test is held (its actor idle, room for its queue capacity); b.test is nobody's here.
  const requests = t.supervisor.requestsFor(["a.test", "b.test"], t.clock.now());
  assert.deepEqual(requests.map((r) => r.domain), ["a.test"]);
  assert.ok(requests[0]!.limit > 0);
  const stop = new AbortController();
  stop.abort();
  await t.supervisor.run(stop.signal);
});

Deno.test("Supervisor.accept() starts deliveries claimed on ingest on the held actor at once, without a pass or a clock tick", async () => {
  const t = setup();
  t.queue.add(deliveries("a.test", 1, t.clock));
  await t.supervisor.pass(t.clock.now());
  await until(() => t.queue.recorded.length === 1, "the first delivery recorded");
  // Ingestion claims a new delivery for the held destination in its own transaction.
  t.queue.add(deliveries("a.test", 1, t.clock));
  const now = t.clock.now();
  const claimed = await t.queue.claimMany(t.supervisor.requestsFor(["a.test"], now), now);
  assert.equal(claimed.length, 1);
  await t.supervisor.accept(claimed, now);
  await until(() => t.queue.recorded.length === 2, "the delivery claimed on ingest recorded");
  assert.equal(t.clock.now(), now, "no clock advance was needed");
  const stop = new AbortController();
  stop.abort();
  await t.supervisor.run(stop.signal);
});

Deno.test("Supervisor.accept() hands back what no actor takes", async () => {
  const t = setup();
  t.queue.add(deliveries("gone.test", 1, t.clock));
  const now = t.clock.now();
  await t.queue.acquireDomains(["gone.test"], now);
  // Claimed for a destination whose actor stopped meanwhile (none runs here).
  const claimed = await t.queue.claimMany([{ domain: "gone.test", limit: 5 }], now);
  await t.supervisor.accept(claimed, now);
  assert.deepEqual(t.queue.rows.map((r) => r.status), ["ready"]);
});

Deno.test("Supervisor.accept() after the drain began hands claims back instead of to a drained actor", async () => {
  const t = setup();
  t.queue.add(deliveries("a.test", 1, t.clock));
  await t.supervisor.pass(t.clock.now());
  await until(() => t.queue.recorded.length === 1, "the first delivery recorded");
  t.queue.add(deliveries("a.test", 1, t.clock));
  const now = t.clock.now();
  // Ingestion asked and claimed just before the drain; it hands them over after it began.
  const claimed = await t.queue.claimMany(t.supervisor.requestsFor(["a.test"], now), now);
  assert.equal(claimed.length, 1);
  const draining = t.supervisor.drain();
  assert.deepEqual(t.supervisor.requestsFor(["a.test"], now), [], "nothing more is asked");
  await t.supervisor.accept(claimed, now);
  await draining;
  assert.deepEqual(t.queue.rows.map((r) => r.status), ["done", "ready"]);
});
