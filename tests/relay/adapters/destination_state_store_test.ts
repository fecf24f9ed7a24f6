import assert from "node:assert/strict";
import { sql } from "kysely";
import { pgDestinationStates } from "../../../relay/adapters/destination_state_store.ts";
import { pgQueue } from "../../../relay/adapters/pg_queue.ts";
import { testDatabase } from "../../_support/db.ts";
import { destinationStateStoreContract } from "../../actors/destination_state_store_contract.ts";

destinationStateStoreContract("pgDestinationStates", async () => {
  const t = await testDatabase();
  return {
    instance(owner: string) {
      return Promise.resolve({
        queue: pgQueue({
          db: t.db,
          instance: owner,
          deliveryLeaseMs: 120_000,
          domainLeaseMs: 15_000,
          suppressForMs: null,
        }),
        store: pgDestinationStates({ db: t.db, instance: owner }),
      });
    },
    [Symbol.asyncDispose]: () => t[Symbol.asyncDispose](),
  };
});

Deno.test("pgDestinationStates: a stored record the actors cannot read is left out", async () => {
  await using t = await testDatabase();
  await sql`
    INSERT INTO ferry.destination_state (key, state, owner, updated_at)
    VALUES ('old.test', '{"version": 0, "tat": 12}', 'x', now()),
           ('odd.test', '"not an object"', 'x', now())`.execute(t.db);
  const store = pgDestinationStates({ db: t.db, instance: "a" });
  assert.equal((await store.load(["old.test", "odd.test"])).size, 0);
});
