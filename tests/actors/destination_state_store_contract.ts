/**
 * The DestinationStateStore port's contract, run against the in-memory fake
 * (tests/actors/memory_destination_states_test.ts) and PostgreSQL
 * (tests/relay/adapters/destination_state_store_test.ts): a state saved by the lease holder is
 * what the next actor reads; a save by an instance that does not hold the lease is refused.
 */
import assert from "node:assert/strict";
import type { DestinationState, DestinationStateStore, Queue } from "../../actors/ports.ts";

export interface DestinationStateFixture extends AsyncDisposable {
  /** Instance `owner`'s queue (its leases) and store, on shared leases and states. */
  instance(owner: string): Promise<{ queue: Queue; store: DestinationStateStore }>;
}

const T0 = Date.UTC(2030, 2, 1, 10);

function state(tat: number): DestinationState {
  return {
    version: 1,
    rates: [{ count: 100, perMs: 61_200, tat }],
    connectionRates: [],
    adaptiveRate: {
      limit: null,
      meter: { windowStart: null, current: 0, previous: 0 },
      tat: null,
      lastTakeAt: null,
    },
    concurrency: {
      kind: "open",
      limit: 2,
      successes: 0,
      failures: 0,
      strikes: 0,
      lastChangeAt: null,
      lastCutAt: null,
    },
  };
}

export function destinationStateStoreContract(
  name: string,
  make: () => Promise<DestinationStateFixture>,
): void {
  const test = (what: string, fn: (f: DestinationStateFixture) => Promise<void>) =>
    Deno.test({
      name: `${name}: ${what}`,
      async fn() {
        await using f = await make();
        await fn(f);
      },
    });

  test("the lease holder's save is what a later load reads", async (f) => {
    const a = await f.instance("a");
    assert.deepEqual(await a.queue.acquireDomains(["a.test"], T0), ["a.test"]);
    const s = state(T0 + 612);
    assert.deepEqual(
      await a.store.save([{ key: "mx:mx.a.test", domain: "a.test", state: s }], T0),
      { refused: [] },
    );
    const b = await f.instance("b");
    const loaded = await b.store.load(["mx:mx.a.test", "none.test"]);
    assert.deepEqual([...loaded], [["mx:mx.a.test", s]]);
    assert.equal((await b.store.load([])).size, 0);
  });

  test("a save without the lease is refused and leaves the holder's state", async (f) => {
    const a = await f.instance("a");
    const b = await f.instance("b");
    await a.queue.acquireDomains(["a.test"], T0);
    const held = state(T0 + 1);
    await a.store.save([{ key: "a.test", domain: "a.test", state: held }], T0);
    const r = await b.store.save([{ key: "a.test", domain: "a.test", state: state(9) }], T0);
    assert.deepEqual(r, { refused: ["a.test"] });
    assert.deepEqual((await a.store.load(["a.test"])).get("a.test"), held);
  });

  test("once the lease moved, the old holder's save is refused and the new one's lands", async (f) => {
    const a = await f.instance("a");
    const b = await f.instance("b");
    await a.queue.acquireDomains(["a.test"], T0);
    await a.queue.releaseDomains(["a.test"]);
    assert.deepEqual(await b.queue.acquireDomains(["a.test"], T0 + 1), ["a.test"]);
    const stale = await a.store.save(
      [{ key: "a.test", domain: "a.test", state: state(1) }],
      T0 + 2,
    );
    assert.deepEqual(stale, { refused: ["a.test"] });
    const fresh = state(T0 + 5);
    assert.deepEqual(
      await b.store.save([{ key: "a.test", domain: "a.test", state: fresh }], T0 + 3),
      { refused: [] },
    );
    assert.deepEqual((await a.store.load(["a.test"])).get("a.test"), fresh);
  });
}
