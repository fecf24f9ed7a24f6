import assert from "node:assert/strict";
import {
  type Budget,
  type Concurrency,
  DEMAND_HORIZON_MS,
  DomainActor,
  QUEUED_PER_CONNECTION,
} from "../../actors/domain_actor.ts";
import type { Delivery, FailureResult, OutcomeRecord } from "../../actors/ports.ts";
import { AdaptiveBudget } from "../../actors/adaptive_rate.ts";
import { RateBudget } from "../../actors/rate_budget.ts";
import { SenderBudgets } from "../../actors/sender_budgets.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";
import { FakeDeliverer, ok, type Script, until } from "../_fakes/fake_deliverer.ts";

let nextId = 1;
function delivery(clock: FakeClock, o: Partial<Delivery> = {}): Delivery {
  return {
    id: nextId++,
    outboxId: o.outboxId ?? nextId,
    recipient: `r${nextId}@dest.test`,
    domain: "dest.test",
    priority: 1,
    attempts: 0,
    expiresAt: clock.now() + 86_400_000,
    smtputf8: false,
    leaseToken: 1,
    leaseExpiresAt: clock.now() + 120_000,
    ...o,
  };
}

/** A fixed-limit concurrency with counters, and a budget of `perSecond` (sliding, simple). */
function setup(
  script: Script,
  o: {
    limit?: number;
    perSecond?: number;
    unreachableAfter?: number;
    budget?: Budget;
    leaseMs?: number;
  } = {},
) {
  const clock = new FakeClock();
  const deliverer = new FakeDeliverer(script);
  const outcomes: OutcomeRecord[] = [];
  const events: string[] = [];
  let failures = 0;
  let unreachableUntil: number | undefined;
  const concurrency: Concurrency = {
    limit:
      () => (unreachableUntil !== undefined && unreachableUntil > clock.now() ? 0 : o.limit ?? 2),
    unreachableUntil: (
      now,
    ) => (unreachableUntil !== undefined && unreachableUntil > now ? unreachableUntil : undefined),
    connected: () => void (failures = 0),
    connectFailed: (now) => {
      events.push("connectFailed");
      if (++failures >= (o.unreachableAfter ?? 3)) unreachableUntil = now + 600_000;
    },
    success: () => events.push("success"),
    throttled: () => events.push("throttled"),
  };
  const taken: number[] = [];
  const perSecond = o.perSecond ?? Infinity;
  const released: Delivery[] = [];
  const budget: Budget = o.budget ?? {
    available: (now) =>
      Math.max(0, Math.min(1000, perSecond - taken.filter((t) => t > now - 1000).length)),
    tryTake(now, n) {
      if (budget.available(now) >= n) {
        for (let i = 0; i < n; i++) taken.push(now);
        return { ok: true };
      }
      const oldest = taken.filter((t) => t > now - 1000)[0]!;
      return { ok: false, retryAt: oldest + 1000 };
    },
  };
  const actor = new DomainActor({
    domain: "dest.test",
    policy: {
      messagesPerConnection: 100,
      idleTimeoutMs: 5_000,
      maxRecipientsPerTransaction: 50,
      queueCapacity: 100,
      leaseMarginMs: 5_000,
      ...(o.leaseMs !== undefined ? { leaseMs: o.leaseMs } : {}),
    },
    clock,
    random: () => 0.5,
    deliverer,
    budget,
    concurrency,
    planRetry: ({ attempts, now, expiresAt, hintMs }) => {
      const at = now + Math.max(hintMs ?? 0, 300_000 * 2 ** (attempts - 1));
      return at >= expiresAt ? { kind: "expire" } : { kind: "retry", at };
    },
    record: (outcome) => {
      outcomes.push(outcome);
      return Promise.resolve(false);
    },
    release: (ds) => {
      released.push(...ds);
      return Promise.resolve();
    },
    logger: { log: (e) => events.push(e.event) },
  });
  const stop = new AbortController();
  const kill = new AbortController();
  const run = () => actor.run(stop.signal, kill.signal);
  return { clock, deliverer, outcomes, events, actor, stop, kill, run, taken, released };
}

Deno.test("DomainActor sends all recipients of one message in one transaction and records each", async () => {
  const t = setup({});
  const a = delivery(t.clock, { outboxId: 7 });
  const b = delivery(t.clock, { outboxId: 7 });
  const c = delivery(t.clock, { outboxId: 8 });
  assert.deepEqual(t.actor.offer([a, b, c]), []);
  const run = t.run();
  await until(() => t.outcomes.length === 3, "3 outcomes");
  assert.deepEqual(t.outcomes.map((o) => [o.delivery.id, o.status, o.code]), [
    [a.id, "delivered", 250],
    [b.id, "delivered", 250],
    [c.id, "delivered", 250],
  ]);
  assert.deepEqual(t.deliverer.transactions.map((x) => x.recipients.length).sort(), [1, 2]);
  assert.equal(t.outcomes[0]!.mxHost, "mx.fake.test");
  assert.equal(t.outcomes[0]!.tls, true);
  t.stop.abort();
  await run;
  assert.equal(t.deliverer.open, 0, "connections closed on stop");
  assert.ok(t.actor.idle());
});

Deno.test("DomainActor lets high-priority mail overtake queued low-priority mail", async () => {
  const t = setup({}, { limit: 1 });
  const low = [0, 1, 2].map(() => delivery(t.clock, { priority: 2 }));
  const high = delivery(t.clock, { priority: 0 });
  t.actor.offer([...low, high]);
  const run = t.run();
  await until(() => t.outcomes.length === 4);
  assert.equal(t.deliverer.transactions[0]!.recipients[0], high.recipient);
  t.stop.abort();
  await run;
});

Deno.test("DomainActor never opens more connections than the limit", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const t = setup({ send: async (_, rs) => (await gate, rs.map(ok)) }, { limit: 2 });
  t.actor.offer(Array.from({ length: 10 }, () => delivery(t.clock)));
  const run = t.run();
  await until(() => t.deliverer.open === 2);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(t.deliverer.maxOpen, 2);
  release();
  await until(() => t.outcomes.length === 10);
  assert.equal(t.deliverer.maxOpen, 2);
  t.stop.abort();
  await run;
});

Deno.test("DomainActor defers a 4xx with the retry schedule, honouring a retry hint", async () => {
  const t = setup({
    send: (_, rs) =>
      rs.map((_, i) => ({
        kind: "transient" as const,
        scope: "recipient" as const,
        code: 450,
        enhanced: "4.2.1",
        reply: "450 4.2.1 try again later",
        ...(i === 1 ? { retryAfterMs: 3_600_000 } : {}),
      })),
  });
  const [a, b] = [delivery(t.clock, { outboxId: 1 }), delivery(t.clock, { outboxId: 1 })];
  t.actor.offer([a!, b!]);
  const run = t.run();
  await until(() => t.outcomes.length === 2);
  const now = t.clock.now();
  assert.deepEqual(t.outcomes.map((o) => [o.status, o.nextAttemptAt! - now, o.enhanced]), [
    ["deferred", 300_000, "4.2.1"],
    ["deferred", 3_600_000, "4.2.1"],
  ]);
  t.stop.abort();
  await run;
});

Deno.test("DomainActor bounces a 5xx and suppresses an address that does not exist", async () => {
  const t = setup({
    send: (_, rs) =>
      rs.map((r) =>
        r.recipient.startsWith("r") && r.id % 2 === 0
          ? {
            kind: "permanent" as const,
            scope: "recipient" as const,
            code: 550,
            enhanced: "5.1.1",
            reply: "550 5.1.1 User unknown",
          }
          : {
            kind: "permanent" as const,
            scope: "message" as const,
            code: 554,
            enhanced: "5.7.1",
            reply: "554 5.7.1 Spam",
          }
      ),
  });
  const ds = [delivery(t.clock, { outboxId: 3 }), delivery(t.clock, { outboxId: 3 })];
  t.actor.offer(ds);
  const run = t.run();
  await until(() => t.outcomes.length === 2);
  for (const o of t.outcomes) {
    assert.equal(o.status, "bounced");
    assert.equal(o.suppress, o.enhanced === "5.1.1");
  }
  t.stop.abort();
  await run;
});

Deno.test("DomainActor slows down on 421 and reconnects for the rest", async () => {
  let calls = 0;
  const t = setup({
    send: (_, rs) =>
      ++calls === 1
        ? rs.map(() => ({
          kind: "transient" as const,
          scope: "connection" as const,
          code: 421,
          reply: "421 4.7.0 Too many connections",
        }))
        : rs.map(ok),
  }, { limit: 1 });
  t.actor.offer([delivery(t.clock), delivery(t.clock)]);
  const run = t.run();
  await until(() => t.outcomes.length === 2);
  assert.deepEqual(t.outcomes.map((o) => o.status).sort(), ["deferred", "delivered"]);
  assert.ok(t.events.includes("throttled"));
  assert.equal(t.deliverer.connects, 2, "a new connection after the 421");
  t.stop.abort();
  await run;
});

Deno.test("DomainActor on a throttling reply: pauses, sends at a cut rate, recovers step by step", async () => {
  // A receiver that takes 4 messages per trailing second and answers a fifth with a
  // throttling reply; later it relaxes. Time is the fake clock's, moved 50 ms at a time.
  let receiverLimit = 4;
  const accepted: number[] = [];
  const seen: number[] = [];
  const slow = {
    kind: "transient" as const,
    scope: "message" as const,
    code: 451,
    enhanced: "4.7.0",
    reply: "451 4.7.0 rate limited",
    slowDown: true,
  };
  const budget = new AdaptiveBudget(new RateBudget([]));
  const t: ReturnType<typeof setup> = setup({
    send: (_, rs) => {
      const now = t.clock.now();
      seen.push(now);
      if (accepted.filter((x) => x > now - 1000).length >= receiverLimit) return rs.map(() => slow);
      accepted.push(now);
      return rs.map(ok);
    },
  }, { limit: 1, budget });
  const T = t.clock.now();
  t.actor.offer(Array.from({ length: 100 }, () => delivery(t.clock)));
  const run = t.run();
  const step = async () => {
    await t.clock.advance(50);
    for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
  };
  await until(() => seen.length === 5, "a burst up to the first throttling reply");
  assert.deepEqual(seen, [T, T, T, T, T], "unlimited at first: all at once");
  assert.equal(budget.limit, 2.5, "half the 5/s just sent");
  assert.deepEqual(t.events.filter((e) => e !== "success"), ["throttled", "domain.slowed"]);
  while (t.clock.now() < T + 950) await step();
  assert.equal(seen.length, 5, "nothing during the 1 s pause");
  while (t.clock.now() < T + 20_000) await step();
  // After the pause: never more than the receiver's 4 (plus the one it refuses) in any second.
  const after = seen.filter((x) => x >= T + 1_000);
  const worst = Math.max(...after.map((x) => after.filter((y) => y >= x && y < x + 1000).length));
  const refusals = t.outcomes.filter((o) => o.status === "deferred").length;
  assert.ok(worst <= 5, `${worst} in one second`);
  assert.ok(refusals <= 5, `${refusals} refused in 20 s: the cut holds`);
  assert.ok(after.length >= 40, `${after.length} sent in 19 s: a cut, not a stop`);
  // The receiver relaxes: the limit climbs in steps while mail flows, until released.
  receiverLimit = Infinity;
  const relaxedAt = t.clock.now();
  const more = Array.from({ length: 60 }, () => delivery(t.clock));
  const total = 100 + more.length - t.actor.offer(more).length;
  const climb: number[] = [];
  while (budget.limit !== undefined && t.clock.now() < relaxedAt + 30_000) {
    if ((t.clock.now() - relaxedAt) % 1000 === 0) climb.push(budget.limit);
    await step();
  }
  assert.equal(budget.limit, undefined, `free again after ${t.clock.now() - relaxedAt} ms`);
  for (let i = 1; i < climb.length; i++) assert.ok(climb[i]! >= climb[i - 1]!, "only up");
  await until(() => t.outcomes.length === total, "every delivery has its outcome");
  t.stop.abort();
  await run;
});

Deno.test("DomainActor marks an unreachable destination and defers its queue instead of hammering it", async () => {
  const refused: FailureResult = {
    kind: "transient",
    scope: "connection",
    code: null,
    reply: "connect to mx.fake.test: Connection refused",
  };
  const t = setup({ connect: () => refused }, { limit: 1, unreachableAfter: 3 });
  t.actor.offer([delivery(t.clock), delivery(t.clock)]);
  const run = t.run();
  await until(() => t.deliverer.connects === 1);
  // Reconnect pauses grow (500 ms, 1 s): time moves only when the test moves it.
  await t.clock.advance(500);
  await until(() => t.deliverer.connects === 2);
  await t.clock.advance(1000);
  await until(() => t.outcomes.length === 2, "queue deferred");
  assert.equal(t.deliverer.connects, 3);
  assert.ok(t.events.includes("domain.unreachable"));
  assert.deepEqual(t.outcomes.map((o) => [o.status, o.reply]), [
    ["deferred", refused.reply],
    ["deferred", refused.reply],
  ]);
  assert.equal(t.actor.demand(t.clock.now()), 0, "no more work while unreachable");
  t.stop.abort();
  await run;
});

Deno.test("DomainActor bounces everything queued when the destination cannot receive mail", async () => {
  const t = setup({
    connect: () => ({
      kind: "permanent",
      scope: "connection",
      code: null,
      reply: "domain has a null MX (RFC 7505)",
    }),
  });
  t.actor.offer([delivery(t.clock), delivery(t.clock)]);
  const run = t.run();
  await until(() => t.outcomes.length === 2);
  assert.deepEqual(t.outcomes.map((o) => o.status), ["bounced", "bounced"]);
  t.stop.abort();
  await run;
});

Deno.test("DomainActor keeps to its rate budget, waiting on the clock", async () => {
  const t = setup({}, { perSecond: 2, limit: 1 });
  t.actor.offer(Array.from({ length: 5 }, () => delivery(t.clock)));
  const run = t.run();
  await until(() => t.outcomes.length === 2);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(t.outcomes.length, 2, "no third before a second has passed");
  await t.clock.advance(1000);
  await until(() => t.outcomes.length === 4);
  await t.clock.advance(1000);
  await until(() => t.outcomes.length === 5);
  t.stop.abort();
  await run;
});

Deno.test("DomainActor expires a delivery past its expires_at without sending it", async () => {
  const t = setup({});
  const gone = delivery(t.clock, { expiresAt: t.clock.now() - 1 });
  const fine = delivery(t.clock);
  t.actor.offer([gone, fine]);
  const run = t.run();
  await until(() => t.outcomes.length === 2);
  const byId = new Map(t.outcomes.map((o) => [o.delivery.id, o]));
  assert.equal(byId.get(gone.id)!.status, "expired");
  assert.equal(byId.get(gone.id)!.reply, null, "the last reply is kept");
  assert.equal(byId.get(fine.id)!.status, "delivered");
  assert.ok(t.deliverer.transactions.every((x) => !x.recipients.includes(gone.recipient)));
  t.stop.abort();
  await run;
});

Deno.test("DomainActor demand() is the smaller of budget and connections, less what is queued, and 0 while suspended", () => {
  const t = setup({}, { perSecond: 3, limit: 2 });
  const now = t.clock.now();
  assert.equal(t.actor.demand(now), 3, "the budget lets 3 through, 2 connections could take 4");
  t.actor.suspend(now + 60_000, "operator");
  assert.equal(t.actor.demand(now), 0);
  assert.equal(t.actor.snapshot(now).suspendReason, "operator");
  t.actor.resume();
  assert.equal(t.actor.demand(now), 3);
  const open = setup({}, { limit: 2 });
  assert.equal(open.actor.demand(now), 2 * QUEUED_PER_CONNECTION, "not the queue capacity (100)");
  open.actor.offer([delivery(open.clock), delivery(open.clock), delivery(open.clock)]);
  assert.equal(open.actor.demand(now), 1);
  const overflow = t.actor.offer(Array.from({ length: 150 }, () => delivery(t.clock)));
  assert.equal(overflow.length, 50, "beyond capacity is handed back");
  assert.equal(t.actor.drain().length, 100);
});

Deno.test("DomainActor demand() counts the budget only up to the lease margin of a fresh claim", () => {
  const asked: (number | undefined)[] = [];
  const budget: Budget = {
    available: (_now, o) => (asked.push(o?.withinMs), 1),
    tryTake: () => ({ ok: true }),
  };
  const now = new FakeClock().now();
  setup({}, { budget }).actor.demand(now);
  setup({}, { budget, leaseMs: 6_000 }).actor.demand(now);
  setup({}, { budget, leaseMs: 4_000 }).actor.demand(now);
  assert.deepEqual(asked, [DEMAND_HORIZON_MS, 1_000, 0], "5 s margin: 2 s, then 6-5, then none");
});

Deno.test("DomainActor hands back claims too close to their lease end instead of sending them", async () => {
  const t = setup({}, { perSecond: 1, limit: 1 });
  const now = t.clock.now();
  const late = delivery(t.clock, { leaseExpiresAt: now + 4_000 });
  assert.deepEqual(t.actor.offer([late]), [late], "within the 5 s margin already: not taken");
  const first = delivery(t.clock);
  // Fresh when offered, but the budget holds it for a second: by then within the margin.
  const second = delivery(t.clock, { leaseExpiresAt: now + 5_500 });
  assert.deepEqual(t.actor.offer([first, second]), []);
  const run = t.run();
  await until(() => t.outcomes.length === 1);
  await t.clock.untilSleeping();
  await t.clock.advance(1000);
  await until(() => t.released.length === 1, "the stale claim released");
  assert.equal(t.released[0]!.id, second.id);
  assert.deepEqual(t.outcomes.map((o) => o.delivery.id), [first.id], "no outcome: not attempted");
  assert.ok(t.deliverer.transactions.every((x) => !x.recipients.includes(second.recipient)));
  t.stop.abort();
  await run;
});

Deno.test("DomainActor offer() takes whole messages: a message started within capacity is taken whole", () => {
  const t = setup({});
  const a = Array.from({ length: 90 }, () => delivery(t.clock, { outboxId: 70 }));
  const b = Array.from({ length: 30 }, () => delivery(t.clock, { outboxId: 71 }));
  const c = Array.from({ length: 5 }, () => delivery(t.clock, { outboxId: 72 }));
  assert.deepEqual(t.actor.offer([...a, ...b]), [], "message 71 not cut at the capacity of 100");
  assert.deepEqual(t.actor.offer(c).map((d) => d.id), c.map((d) => d.id), "no room: all back");
});

Deno.test("DomainActor shares a sender's transaction cap with other actors and gives back what its destination refused", async () => {
  const clock = new FakeClock();
  const senders = new SenderBudgets({ "noisy.example": { rates: [], maxConnections: 1 } }, {
    reserve: () => Promise.reject(new Error("no rates, no reservations")),
  });
  // Every send waits until the test lets it finish: transactions overlap unless the cap holds.
  let inFlight = 0;
  let most = 0;
  const gates: (() => void)[] = [];
  const deliverer = new FakeDeliverer({
    send: (_id, rcpts) => {
      const isNoisy = rcpts[0]!.sender === "noisy.example";
      if (isNoisy) most = Math.max(most, ++inFlight);
      return new Promise((resolve) =>
        gates.push(() => {
          if (isNoisy) inFlight--;
          resolve(rcpts.map(ok));
        })
      );
    },
  });
  const outcomes: OutcomeRecord[] = [];
  // Destination b refuses its first take: the sender's slot it got must come back.
  let refusals = 1;
  const actor = (domain: string) =>
    new DomainActor({
      domain,
      policy: {
        messagesPerConnection: 100,
        idleTimeoutMs: 5_000,
        maxRecipientsPerTransaction: 50,
        queueCapacity: 100,
        leaseMarginMs: 5_000,
      },
      clock,
      random: () => 0.5,
      deliverer,
      budget: {
        available: () => 1,
        tryTake: (now) =>
          domain === "b.test" && refusals-- > 0 ? { ok: false, retryAt: now + 100 } : { ok: true },
      },
      concurrency: {
        limit: () => 2,
        unreachableUntil: () => undefined,
        connected() {},
        connectFailed() {},
        success() {},
        throttled() {},
      },
      planRetry: () => ({ kind: "expire" }),
      record: (o) => {
        outcomes.push(o);
        return Promise.resolve(false);
      },
      logger: { log: () => {} },
      senders,
    });
  const a = actor("a.test");
  const b = actor("b.test");
  const noisy = (domain: string) => delivery(clock, { domain, sender: "noisy.example" });
  a.offer([noisy("a.test"), noisy("a.test")]);
  b.offer([noisy("b.test"), noisy("b.test"), delivery(clock, { domain: "b.test" })]);
  const stop = new AbortController();
  const kill = new AbortController();
  // b first: its first take (a noisy job) gets the sender's slot, then its destination refuses.
  const runs = [b.run(stop.signal, kill.signal), a.run(stop.signal, kill.signal)];
  for (let i = 0; i < 50 && outcomes.length < 5; i++) {
    await until(() => gates.length > 0 || outcomes.length === 5, "a transaction or the end");
    gates.shift()?.();
    await clock.advance(100);
  }
  assert.equal(outcomes.length, 5);
  assert.deepEqual(outcomes.map((o) => o.status), Array(5).fill("delivered"));
  assert.equal(most, 1, "one noisy transaction at a time across both actors");
  assert.ok(refusals < 0, "b's destination budget refused once");
  assert.equal(senders.snapshot(clock.now())[0]!.inFlight, 0, "every slot came back");
  stop.abort();
  await Promise.all(runs);
});
