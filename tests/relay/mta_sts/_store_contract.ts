/**
 * What every MtaStsStore must do, run against the memory store here and against the
 * PostgreSQL adapter in tests/db/mta_sts_test.ts.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { MtaStsStore, PolicyRecord } from "../../../relay/mta_sts/mod.ts";

const T = Date.UTC(2030, 0, 1);

export function policy(over: Partial<PolicyRecord> = {}): PolicyRecord {
  return {
    domain: "example.com",
    id: "1",
    mode: "enforce",
    mx: ["mx1.example.com", "*.example.net"],
    maxAge: 86_400,
    fetchedAt: T,
    expiresAt: T + 86_400_000,
    ...over,
  };
}

export async function storeContract(
  t: Deno.TestContext,
  open: () => Promise<MtaStsStore>,
): Promise<void> {
  await t.step("get() of an unknown domain is undefined", async () => {
    assert.equal(await (await open()).get("nowhere.example"), undefined);
  });
  await t.step("put() then get() gives the policy back, without error", async () => {
    const store = await open();
    assert.equal(await store.put(policy()), true);
    assert.deepEqual(await store.get("example.com"), { ...policy(), lastError: null });
  });
  await t.step(
    "noteError() marks the stored policy; put() of a later fetch clears it",
    async () => {
      const store = await open();
      await store.put(policy());
      await store.noteError("example.com", "HTTP status 500", T + 1000);
      await store.noteError("nowhere.example", "ignored", T);
      assert.deepEqual((await store.get("example.com"))?.lastError, {
        message: "HTTP status 500",
        at: T + 1000,
      });
      assert.equal(await store.get("nowhere.example"), undefined);
      const later = policy({
        id: "2",
        mode: "testing",
        mx: ["b.example.com"],
        fetchedAt: T + 5000,
      });
      assert.equal(await store.put(later), true);
      assert.deepEqual(await store.get("example.com"), { ...later, lastError: null });
    },
  );
  await t.step("put() of an earlier fetch than the stored one changes nothing", async () => {
    const store = await open();
    await store.put(policy({ id: "new", fetchedAt: T + 10_000 }));
    assert.equal(await store.put(policy({ id: "old", fetchedAt: T })), false);
    assert.equal((await store.get("example.com"))?.id, "new");
    assert.equal(await store.put(policy({ id: "same-time", fetchedAt: T + 10_000 })), true);
  });
  await t.step("a none policy without mx round-trips", async () => {
    const store = await open();
    const none = policy({ domain: "none.example", mode: "none", mx: [], maxAge: 0 });
    await store.put({ ...none, expiresAt: none.fetchedAt });
    assert.deepEqual(await store.get("none.example"), {
      ...none,
      expiresAt: none.fetchedAt,
      lastError: null,
    });
  });
}
