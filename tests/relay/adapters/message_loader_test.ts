import assert from "node:assert/strict";
import { MessageLoader } from "../../../relay/adapters/message_loader.ts";

function gated() {
  const calls: number[][] = [];
  const gates: (() => void)[] = [];
  const loader = new MessageLoader<string>(async (ids) => {
    calls.push([...ids]);
    await new Promise<void>((r) => gates.push(r));
    if (ids.includes(666)) throw new Error("broken database");
    return new Map(ids.filter((id) => id !== 404).map((id) => [id, `row ${id}`]));
  }, 3);
  const open = async () => {
    while (gates.length === 0) await Promise.resolve();
    gates.shift()!();
  };
  return { calls, loader, open };
}

Deno.test("MessageLoader.load() reads at once, then takes everything asked meanwhile in one read", async () => {
  const { calls, loader, open } = gated();
  const first = loader.load(1);
  const rest = [loader.load(2), loader.load(3), loader.load(2), loader.load(404)];
  await open();
  assert.equal(await first, "row 1");
  await open();
  assert.deepEqual(await Promise.all(rest), ["row 2", "row 3", "row 2", undefined]);
  assert.deepEqual(calls, [[1], [2, 3, 404]], "one read for the waiting ids, each id once");
});

Deno.test("MessageLoader.load() reads at most maxBatch ids at once and fails only the broken batch", async () => {
  const { calls, loader, open } = gated();
  const first = loader.load(1);
  const broken = [666, 7, 8].map((id) => loader.load(id));
  const later = loader.load(9);
  await open();
  await first;
  await open();
  for (const p of broken) await assert.rejects(p, /broken database/);
  await open();
  assert.equal(await later, "row 9");
  assert.deepEqual(calls, [[1], [666, 7, 8], [9]]);
});

function priming(maxBytes: number) {
  const calls: number[][] = [];
  const loader = new MessageLoader<string>(
    (ids) => {
      calls.push([...ids]);
      return Promise.resolve(new Map(ids.map((id) => [id, `read ${id}`])));
    },
    500,
    { sizeOf: (v) => v.length, maxBytes },
  );
  return { calls, loader };
}

Deno.test("MessageLoader.load() takes a primed row without a read, once", async () => {
  const { calls, loader } = priming(1000);
  loader.prime([[1, "primed 1"], [2, "primed 2"]]);
  assert.equal(await loader.load(1), "primed 1");
  assert.equal(await loader.load(2), "primed 2");
  assert.deepEqual(calls, [], "no read for primed rows");
  assert.equal(await loader.load(1), "read 1", "a primed row serves one load; later ones read");
  assert.deepEqual(calls, [[1]]);
});

Deno.test("MessageLoader.prime() answers loads already waiting and keeps at most maxBytes", async () => {
  const { calls, loader } = priming(20);
  const busy = loader.load(9); // the read in flight
  const waiting = loader.load(3); // queued behind it
  loader.prime([[3, "primed 3"]]);
  assert.equal(await waiting, "primed 3");
  await busy;
  assert.deepEqual(calls, [[9]], "the waiting load was not read");
  // 8 bytes each, 20 allowed: priming a third drops the oldest.
  loader.prime([[4, "primed 4"], [5, "primed 5"], [6, "primed 6"]]);
  assert.equal(await loader.load(4), "read 4");
  assert.equal(await loader.load(5), "primed 5");
  assert.equal(await loader.load(6), "primed 6");
  assert.deepEqual(calls, [[9], [4]]);
});
