import assert from "node:assert/strict";
import {
  deleteMtaStsPolicy,
  getMtaStsPolicy,
  type MtaStsPolicyRow,
  noteMtaStsError,
  upsertMtaStsPolicy,
} from "../../db/mta_sts.ts";
import { pgMtaStsStore } from "../../relay/adapters/mta_sts_store.ts";
import { MtaSts } from "../../relay/mta_sts/mod.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";
import { storeContract } from "../relay/mta_sts/_store_contract.ts";
import { policyFile, ScriptedDns, ScriptedWeb } from "../relay/mta_sts/_fakes.ts";

const T = Date.UTC(2030, 0, 1);

function row(over: Partial<MtaStsPolicyRow> = {}): MtaStsPolicyRow {
  return {
    domain: "example.com",
    policyId: "20300101",
    mode: "enforce",
    mx: ["mx1.example.com", "*.example.net"],
    maxAge: 604_800,
    fetchedAt: new Date(T),
    expiresAt: new Date(T + 604_800_000),
    ...over,
  };
}

Deno.test("upsertMtaStsPolicy() inserts, then replaces with a later fetch only", async () => {
  await using t = await testDatabase();
  assert.equal(await upsertMtaStsPolicy(t.db, row({ domain: "Example.COM" })), true);
  assert.deepEqual(await getMtaStsPolicy(t.db, "example.com"), {
    ...row(),
    lastError: null,
    lastErrorAt: null,
  });
  const later = row({
    policyId: "2",
    mode: "testing",
    mx: ["b.example.com"],
    fetchedAt: new Date(T + 1),
  });
  assert.equal(await upsertMtaStsPolicy(t.db, later), true);
  assert.equal((await getMtaStsPolicy(t.db, "example.com"))?.policyId, "2");
  assert.equal(await upsertMtaStsPolicy(t.db, row({ policyId: "stale" })), false);
  assert.deepEqual(await getMtaStsPolicy(t.db, "EXAMPLE.com"), {
    ...later,
    lastError: null,
    lastErrorAt: null,
  });
  const count = await t.db.selectFrom("ferry.mta_sts_policies").select((eb) =>
    eb.fn.countAll().as("n")
  )
    .executeTakeFirstOrThrow();
  assert.equal(Number(count.n), 1);
});

Deno.test("noteMtaStsError() marks a stored policy, shortened; an upsert clears it", async () => {
  await using t = await testDatabase();
  assert.equal(await noteMtaStsError(t.db, "example.com", "nothing stored", new Date(T)), false);
  await upsertMtaStsPolicy(t.db, row());
  assert.equal(
    await noteMtaStsError(t.db, "example.com", "x".repeat(5000), new Date(T + 60_000)),
    true,
  );
  const marked = await getMtaStsPolicy(t.db, "example.com");
  assert.equal(marked?.lastError?.length, 1000);
  assert.deepEqual(marked?.lastErrorAt, new Date(T + 60_000));
  await upsertMtaStsPolicy(t.db, row({ fetchedAt: new Date(T + 120_000) }));
  assert.equal((await getMtaStsPolicy(t.db, "example.com"))?.lastError, null);
});

Deno.test("deleteMtaStsPolicy() forgets a domain's policy", async () => {
  await using t = await testDatabase();
  await upsertMtaStsPolicy(t.db, row());
  assert.equal(await deleteMtaStsPolicy(t.db, "EXAMPLE.com"), true);
  assert.equal(await deleteMtaStsPolicy(t.db, "example.com"), false);
  assert.equal(await getMtaStsPolicy(t.db, "example.com"), undefined);
});

Deno.test("the table refuses what no policy can be", async () => {
  await using t = await testDatabase();
  await assert.rejects(upsertMtaStsPolicy(t.db, row({ maxAge: 31_557_601 })), /check constraint/);
  await assert.rejects(
    t.db.insertInto("ferry.mta_sts_policies").values({
      domain: "Upper.example",
      policy_id: "1",
      mode: "enforce",
      mx: [],
      max_age: 1,
      fetched_at: new Date(T),
      expires_at: new Date(T),
    }).execute(),
    /check constraint/,
  );
});

Deno.test("pgMtaStsStore follows the store contract", async (t) => {
  await using database = await testDatabase();
  await storeContract(t, async () => {
    await database.db.deleteFrom("ferry.mta_sts_policies").execute();
    return pgMtaStsStore(database.db);
  });
});

Deno.test({
  name: "two instances on one database share policies: one fetches, the other uses it",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    const other = await t.reopen();
    const clock = new FakeClock(T);
    const dns = new ScriptedDns().set("example.com", ["v=STSv1; id=1;"]);
    const web = new ScriptedWeb().set(
      "example.com",
      policyFile("enforce", 604_800, "mx.example.com"),
    );
    const instance = (store: ReturnType<typeof pgMtaStsStore>) =>
      new MtaSts({ clock, lookupTxt: dns.lookupTxt, fetchPolicy: web.fetchPolicy, store });
    const a = instance(pgMtaStsStore(t.db));
    const b = instance(pgMtaStsStore(other.db));
    assert.equal((await a.policyFor("example.com")).source, "fetched");
    const seen = await b.policyFor("example.com");
    assert.equal(seen.mode, "enforce");
    assert.equal(seen.source, "cache");
    assert.deepEqual(seen.policy?.mx, ["mx.example.com"]);
    assert.equal(web.fetched.length, 1);

    // A restart is a new handle on the same rows: the policy is still there, and a failed
    // refresh on one instance leaves it in force on both.
    await clock.advance(86_400_000);
    dns.set("example.com", ["v=STSv1; id=2;"]);
    web.set("example.com", "!connection refused");
    assert.equal((await b.policyFor("example.com")).source, "fallback");
    const stored = await getMtaStsPolicy(t.db, "example.com");
    assert.equal(stored?.lastError, "connection refused");
    assert.equal((await a.policyFor("example.com")).mode, "enforce");
  },
});
