import assert from "node:assert/strict";
import { sql } from "kysely";
import { ingestOutbox } from "../../../db/ingest.ts";
import { pgQueue } from "../../../relay/adapters/pg_queue.ts";
import { loadMessages, type MessageRow } from "../../../db/messages.ts";
import { Supervisor } from "../../../actors/supervisor.ts";
import { DomainActor } from "../../../actors/domain_actor.ts";
import { OutcomeBatcher } from "../../../actors/outcome_batcher.ts";
import { queueContract } from "../../actors/queue_contract.ts";
import { testDatabase } from "../../_support/db.ts";
import { insertOutbox } from "../../_support/outbox.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeDeliverer, until } from "../../_fakes/fake_deliverer.ts";

queueContract("pgQueue", async () => {
  const t = await testDatabase();
  return {
    queue: (owner: string) =>
      Promise.resolve(
        pgQueue({
          db: t.db,
          instance: owner,
          deliveryLeaseMs: 120_000,
          domainLeaseMs: 15_000,
          suppressForMs: null,
        }),
      ),
    async add(domain: string, n: number, dueAt: number) {
      const at = new Date(dueAt);
      await sql`
        INSERT INTO ferry.outbox (from_address, to_addresses, text_body, send_at, created_at)
        SELECT 's@ferry.test', ARRAY['r' || g || '@' || ${domain}], 'b', ${at}, ${at}
          FROM generate_series(1, ${n}) g`.execute(t.db);
      await ingestOutbox(t.db, { now: at });
    },
    [Symbol.asyncDispose]: () => t[Symbol.asyncDispose](),
  };
});

Deno.test("Supervisor over PostgreSQL: committed outbox rows end delivered, with events", async () => {
  await using t = await testDatabase();
  const clock = new FakeClock(Date.UTC(2030, 2, 1, 10));
  const at = new Date(clock.now());
  for (
    const rcpts of [["a@one.test", "b@one.test"], ["c@two.test"], ["d@one.test", "e@three.test"]]
  ) {
    await insertOutbox(t.db, { to_addresses: rcpts, created_at: at, send_at: at });
  }
  await ingestOutbox(t.db, { now: at });
  const queue = pgQueue({
    db: t.db,
    instance: "i1",
    deliveryLeaseMs: 120_000,
    domainLeaseMs: 15_000,
    suppressForMs: null,
  });
  const batcher = new OutcomeBatcher((o) => queue.record(o, clock.now()));
  const deliverer = new FakeDeliverer();
  const supervisor = new Supervisor({
    queue,
    clock,
    logger: { log: () => {} },
    createActor: (domain) =>
      new DomainActor({
        domain,
        policy: {
          messagesPerConnection: 10,
          idleTimeoutMs: 1_000,
          maxRecipientsPerTransaction: 50,
          queueCapacity: 100,
          leaseMarginMs: 5_000,
        },
        clock,
        random: () => 0.5,
        deliverer,
        budget: { tryTake: () => ({ ok: true }), available: () => 100 },
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
        logger: { log: () => {} },
      }),
  });
  const delivered = async () =>
    Number(
      (await sql<
        { n: number }
      >`SELECT count(*) AS n FROM ferry.deliveries WHERE status = 'delivered'`.execute(t.db))
        .rows[0]!.n,
    );
  for (let i = 0; i < 50 && (await delivered()) < 5; i++) {
    await supervisor.pass(clock.now());
    await until(() => true);
  }
  assert.equal(await delivered(), 5);
  const events = await t.db.selectFrom("ferry.events").select(["kind", "mx_host", "code", "tls"])
    .execute();
  assert.equal(events.length, 5);
  assert.ok(
    events.every((e) =>
      e.kind === "delivered" && e.mx_host === "mx.fake.test" && e.code === 250 && e.tls
    ),
  );
  // The two recipients at one.test of the first message went in one transaction.
  assert.ok(deliverer.transactions.some((x) => x.recipients.length === 2));
  await supervisor.drain();
  const leases = await t.db.selectFrom("ferry.leases").selectAll().execute();
  assert.deepEqual(leases, [], "destination leases released on drain");
});

Deno.test("pgQueue() hands onMessages the outbox rows of the messages each claim takes, once each", async () => {
  await using t = await testDatabase();
  const clock = new FakeClock(Date.UTC(2030, 2, 1, 10));
  const at = new Date(clock.now());
  const two = await insertOutbox(t.db, {
    to_addresses: ["a@one.test", "b@one.test"],
    created_at: at,
    send_at: at,
  });
  // Every column travels: one-click unsubscribe too (the header is added at send time).
  const one = await insertOutbox(t.db, {
    to_addresses: ["c@two.test"],
    list_unsubscribe: true,
    created_at: at,
    send_at: at,
  });
  await ingestOutbox(t.db, { now: at, listUnsubscribe: true });
  const seen: MessageRow[][] = [];
  const queue = pgQueue({
    db: t.db,
    instance: "i1",
    deliveryLeaseMs: 120_000,
    domainLeaseMs: 15_000,
    suppressForMs: null,
    onMessages: (rows) => seen.push([...rows]),
  });
  assert.deepEqual(await queue.acquireDomains(["one.test", "two.test"], clock.now()), [
    "one.test",
    "two.test",
  ]);
  const claimed = await queue.claimMany(
    [{ domain: "one.test", limit: 10 }, { domain: "two.test", limit: 10 }],
    clock.now(),
  );
  assert.equal(claimed.length, 3);
  assert.equal(seen.length, 1, "one call per claim");
  const stored = await loadMessages(t.db, [two, one]);
  assert.equal(stored.get(one)?.listUnsubscribe, true);
  assert.deepEqual(
    seen[0]!.toSorted((a, b) => a.id - b.id),
    [stored.get(two), stored.get(one)].toSorted((a, b) => a!.id - b!.id),
  );
});

Deno.test("pgQueue.claimMany() tells each delivery the sender limit its message falls under", async () => {
  await using t = await testDatabase();
  const now = Date.UTC(2030, 2, 1, 10);
  const at = new Date(now);
  const rows = [
    { from_address: "App <app@noisy.example>", metadata: null },
    { from_address: "app@quiet.example", metadata: { customer: "acme" } },
    { from_address: "app@quiet.example", metadata: { customer: "other" } },
  ];
  for (const [i, r] of rows.entries()) {
    await insertOutbox(t.db, {
      from_address: r.from_address,
      metadata: r.metadata ? JSON.stringify(r.metadata) : null,
      to_addresses: [`u${i}@dest.test`],
      created_at: at,
      send_at: at,
    });
  }
  await ingestOutbox(t.db, { now: at });
  const queue = pgQueue({
    db: t.db,
    instance: "i1",
    deliveryLeaseMs: 120_000,
    domainLeaseMs: 15_000,
    suppressForMs: null,
    senders: { keys: new Set(["noisy.example", "tenant:acme"]), tenantKey: "customer" },
  });
  assert.deepEqual(await queue.acquireDomains(["dest.test"], now), ["dest.test"]);
  const claimed = await queue.claimMany([{ domain: "dest.test", limit: 10 }], now);
  assert.deepEqual(
    claimed.map((d) => [d.recipient, d.sender]),
    [["u0@dest.test", "noisy.example"], ["u1@dest.test", "tenant:acme"], [
      "u2@dest.test",
      undefined,
    ]],
  );
});
