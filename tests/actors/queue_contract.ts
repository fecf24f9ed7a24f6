/**
 * The Queue port's contract, run against the in-memory fake (tests/actors/memory_queue_test.ts)
 * and PostgreSQL (tests/relay/pg_queue_test.ts), so the fake the supervisor tests rely on
 * behaves like the real thing where it matters.
 */
import assert from "node:assert/strict";
import type { Queue } from "../../actors/ports.ts";

export interface QueueFixture extends AsyncDisposable {
  /** A queue acting as instance `owner`. */
  queue(owner: string): Promise<Queue>;
  /** Adds `n` deliveries to `domain`, due at `dueAt`. */
  add(domain: string, n: number, dueAt: number): Promise<void>;
}

const T0 = Date.UTC(2030, 2, 1, 10);

/** What a supervisor's claim gives one destination, `a.test`. */
const claimOne = (q: Queue, limit: number, now: number) =>
  q.claimMany([{ domain: "a.test", limit }], now);

export function queueContract(
  name: string,
  make: () => Promise<QueueFixture>,
  ignore = false,
): void {
  const test = (what: string, fn: (f: QueueFixture) => Promise<void>) =>
    Deno.test({
      name: `${name}: ${what}`,
      ignore,
      async fn() {
        await using f = await make();
        await fn(f);
      },
    });

  test("a held destination's due deliveries are claimed once, up to the limit", async (f) => {
    await f.add("a.test", 5, T0);
    const q = await f.queue("i1");
    assert.deepEqual((await q.readyDomains({ cursor: "", limit: 10, now: T0 })).domains, [
      "a.test",
    ]);
    assert.deepEqual(await claimOne(q, 10, T0), [], "no claim without the destination lease");
    assert.deepEqual(await q.acquireDomains(["a.test"], T0), ["a.test"]);
    const first = await claimOne(q, 3, T0);
    const second = await claimOne(q, 10, T0);
    assert.equal(first.length, 3);
    assert.equal(second.length, 2);
    assert.equal(new Set([...first, ...second].map((d) => d.id)).size, 5);
    assert.deepEqual(await claimOne(q, 10, T0), []);
  });

  test("claimMany() claims for several held destinations in one call, each up to its limit", async (f) => {
    await f.add("a.test", 3, T0);
    await f.add("b.test", 3, T0);
    await f.add("c.test", 3, T0);
    const q = await f.queue("i1");
    await q.acquireDomains(["a.test", "b.test"], T0);
    const got = await q.claimMany([
      { domain: "a.test", limit: 2 },
      { domain: "b.test", limit: 5 },
      { domain: "c.test", limit: 5 },
    ], T0);
    const count = (d: string) => got.filter((x) => x.domain === d).length;
    assert.deepEqual([count("a.test"), count("b.test"), count("c.test")], [2, 3, 0]);
  });

  test("another instance can neither take a held destination nor claim for it", async (f) => {
    await f.add("a.test", 2, T0);
    const q1 = await f.queue("i1");
    const q2 = await f.queue("i2");
    await q1.acquireDomains(["a.test"], T0);
    assert.deepEqual(await q2.acquireDomains(["a.test"], T0 + 1000), []);
    assert.deepEqual(
      (await q2.readyDomains({ cursor: "", limit: 10, now: T0 + 1000 })).domains,
      [],
    );
    assert.deepEqual(await claimOne(q2, 10, T0 + 1000), []);
  });

  test("a recorded outcome finishes a delivery; a stale report is refused", async (f) => {
    await f.add("a.test", 2, T0);
    const q = await f.queue("i1");
    await q.acquireDomains(["a.test"], T0);
    const [a, b] = await claimOne(q, 2, T0);
    const r = await q.record([
      { delivery: a!, status: "delivered", attempted: true, code: 250, reply: "250 ok" },
      {
        delivery: { ...b!, leaseToken: b!.leaseToken + 99 },
        status: "delivered",
        attempted: true,
        code: 250,
        reply: "250 ok",
      },
    ], T0 + 1);
    assert.deepEqual(r.refused, [b!.id]);
    const again = await q.record([
      { delivery: a!, status: "delivered", attempted: true, code: 250, reply: "250 ok" },
    ], T0 + 2);
    assert.deepEqual(again.refused, [a!.id], "written once only");
  });

  test("a deferral and a release come back when due", async (f) => {
    await f.add("a.test", 2, T0);
    const q = await f.queue("i1");
    await q.acquireDomains(["a.test"], T0);
    const [a, b] = await claimOne(q, 2, T0);
    await q.record([{
      delivery: a!,
      status: "deferred",
      attempted: true,
      code: 451,
      reply: "451 later",
      nextAttemptAt: T0 + 60_000,
    }], T0);
    await q.release([b!], T0 + 30_000, T0);
    assert.deepEqual(await claimOne(q, 10, T0 + 29_000), []);
    // The 15 s destination lease has lapsed by then: take it again (it is free).
    assert.deepEqual(await q.acquireDomains(["a.test"], T0 + 30_000), ["a.test"]);
    assert.deepEqual((await claimOne(q, 10, T0 + 30_000)).map((d) => d.id), [b!.id]);
    assert.deepEqual(await q.acquireDomains(["a.test"], T0 + 60_000), ["a.test"]);
    assert.deepEqual((await claimOne(q, 10, T0 + 60_000)).map((d) => d.id), [a!.id]);
  });

  test("a destination lease that ran out is lost for its holder", async (f) => {
    await f.add("a.test", 1, T0);
    const q = await f.queue("i1");
    await q.acquireDomains(["a.test"], T0);
    assert.deepEqual(await q.renewDomains(["a.test"], T0 + 5_000), ["a.test"]);
    assert.deepEqual(await q.renewDomains(["a.test"], T0 + 600_000), []);
  });
}
