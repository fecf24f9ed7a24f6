import assert from "node:assert/strict";
import { sql } from "kysely";
import { bulkAction, getMessage } from "../../db/admin_queries.ts";
import { eventsAfter } from "../../db/admin_stats.ts";
import {
  findApiKey,
  insertApiKey,
  listApiKeys,
  type NewApiKey,
  revokeApiKey,
  touchApiKey,
} from "../../db/api_keys.ts";
import { listAudit, recordAudit } from "../../db/audit.ts";
import { ingestOutbox } from "../../db/ingest.ts";
import { cancelMessage } from "../../db/queue.ts";
import { testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";

const T0 = new Date(Date.UTC(2030, 0, 1));
const at = (ms: number) => new Date(T0.getTime() + ms);

function key(over: Partial<NewApiKey> = {}): NewApiKey {
  return {
    id: "0123456789abcdef",
    name: "ci",
    scopes: ["read", "send"],
    hash: new Uint8Array(32).fill(7),
    prefix: "fy_0123456789abcdef",
    now: T0,
    ...over,
  };
}

Deno.test("insertApiKey() stores a key once per name, revoked or not", async () => {
  await using t = await testDatabase();
  const r = await insertApiKey(t.db, key());
  assert.deepEqual(r, {
    kind: "created",
    key: {
      name: "ci",
      scopes: ["read", "send"],
      prefix: "fy_0123456789abcdef",
      created_at: T0,
      revoked_at: null,
      last_used_at: null,
    },
  });
  const again = key({ id: "fedcba9876543210" });
  assert.deepEqual(await insertApiKey(t.db, again), { kind: "name-taken" });
  await revokeApiKey(t.db, "ci", at(1000));
  assert.deepEqual(await insertApiKey(t.db, again), { kind: "name-taken" });
  assert.equal((await listApiKeys(t.db)).length, 1);
});

Deno.test("findApiKey() reads the hash back; listApiKeys() never shows it", async () => {
  await using t = await testDatabase();
  await insertApiKey(t.db, key({ name: "zeta", id: "00000000000000aa" }));
  await insertApiKey(t.db, key({ name: "alpha", id: "00000000000000bb", scopes: ["admin"] }));
  const found = await findApiKey(t.db, "00000000000000aa");
  assert.ok(found);
  assert.deepEqual(found.hash, new Uint8Array(32).fill(7));
  assert.equal(found.name, "zeta");
  assert.equal(await findApiKey(t.db, "ffffffffffffffff"), undefined);
  const list = await listApiKeys(t.db);
  assert.deepEqual(list.map((k) => k.name), ["alpha", "zeta"]);
  for (const k of list) {
    assert.deepEqual(Object.keys(k).sort(), [
      "created_at",
      "last_used_at",
      "name",
      "prefix",
      "revoked_at",
      "scopes",
    ]);
  }
});

Deno.test("the table refuses what no key may be: bootstrap's name, unknown scopes, short hashes", async () => {
  await using t = await testDatabase();
  const refused = async (k: NewApiKey) => {
    await assert.rejects(insertApiKey(t.db, k), /check constraint/);
  };
  await refused(key({ name: "bootstrap" }));
  await refused(key({ name: "has space" }));
  // deno-lint-ignore no-explicit-any
  await refused(key({ scopes: ["root" as any] }));
  await refused(key({ scopes: [] }));
  await refused(key({ hash: new Uint8Array(16) }));
  await refused(key({ id: "not-hex" }));
  assert.deepEqual(await listApiKeys(t.db), []);
});

Deno.test("revokeApiKey() revokes once and keeps the first revocation's time", async () => {
  await using t = await testDatabase();
  await insertApiKey(t.db, key());
  const first = await revokeApiKey(t.db, "ci", at(1000));
  assert.equal(first.kind, "revoked");
  const second = await revokeApiKey(t.db, "ci", at(2000));
  assert.equal(second.kind, "already");
  assert.deepEqual(second.kind === "already" && second.key.revoked_at, at(1000));
  assert.deepEqual(await revokeApiKey(t.db, "nobody", at(3000)), { kind: "unknown" });
  assert.deepEqual((await findApiKey(t.db, key().id))?.revoked_at, at(1000));
});

Deno.test("touchApiKey() writes last_used_at once per interval", async () => {
  await using t = await testDatabase();
  await insertApiKey(t.db, key());
  const id = key().id;
  await touchApiKey(t.db, id, at(1000), at(1000 - 60_000));
  assert.deepEqual((await findApiKey(t.db, id))?.last_used_at, at(1000));
  // A use noted within the interval stands.
  await touchApiKey(t.db, id, at(30_000), at(30_000 - 60_000));
  assert.deepEqual((await findApiKey(t.db, id))?.last_used_at, at(1000));
  await touchApiKey(t.db, id, at(70_000), at(70_000 - 60_000));
  assert.deepEqual((await findApiKey(t.db, id))?.last_used_at, at(70_000));
});

Deno.test("cancel and retry record the acting key on their events; Ferry's own events have none", async () => {
  await using t = await testDatabase();
  const id = await insertOutbox(t.db, { to_addresses: ["a@x.test", "b@y.test"], send_at: T0 });
  await ingestOutbox(t.db, { now: T0 });
  const other = await insertOutbox(t.db, { to_addresses: ["c@z.test"], send_at: T0 });
  await ingestOutbox(t.db, { now: T0 });
  await cancelMessage(t.db, id, { now: at(1000), actor: "ops-alice" });
  await bulkAction(t.db, "cancel", { outboxId: other }, { now: at(2000), actor: "ops-bob" });
  await bulkAction(t.db, "retry", { outboxId: id, status: ["cancelled"] }, {
    now: at(3000),
    actor: "ops-carol",
  });
  const events = await eventsAfter(t.db, 0, 100);
  assert.deepEqual(
    events.map((e) => [e.outbox_id, e.kind, e.actor]).map(([o, k, a]) => [Number(o), k, a]),
    [
      [id, "cancelled", "ops-alice"],
      [id, "cancelled", "ops-alice"],
      [other, "cancelled", "ops-bob"],
      [id, "requeued", "ops-carol"],
      [id, "requeued", "ops-carol"],
    ],
  );
  const detail = await getMessage(t.db, id);
  assert.deepEqual(
    detail?.deliveries.flatMap((d) => d.events.map((e) => e.actor)),
    ["ops-alice", "ops-carol", "ops-alice", "ops-carol"],
  );
  // Without an actor (a caller other than the API), the column stays empty.
  const third = await insertOutbox(t.db, { send_at: T0 });
  await ingestOutbox(t.db, { now: T0 });
  await cancelMessage(t.db, third, { now: at(4000) });
  const last = (await eventsAfter(t.db, 0, 100)).at(-1);
  assert.equal(last?.actor, null);
});

Deno.test("recordAudit() and listAudit(): newest first, by page, by actor and action", async () => {
  await using t = await testDatabase();
  for (let i = 0; i < 5; i++) {
    await recordAudit(t.db, {
      at: at(i * 1000),
      actor: i % 2 === 0 ? "alice" : "bob",
      action: i < 3 ? "suspend" : "resume",
      target: `d${i}.test`,
      detail: { i },
    });
  }
  const first = await listAudit(t.db, { limit: 2 });
  assert.deepEqual(first.rows.map((r) => r.target), ["d4.test", "d3.test"]);
  assert.ok(first.next !== null);
  const second = await listAudit(t.db, { limit: 10, before: first.next });
  assert.deepEqual(second.rows.map((r) => r.target), ["d2.test", "d1.test", "d0.test"]);
  assert.equal(second.next, null);
  assert.deepEqual(second.rows[0], {
    id: second.rows[0]!.id,
    at: at(2000),
    actor: "alice",
    action: "suspend",
    target: "d2.test",
    detail: { i: 2 },
  });
  const alice = await listAudit(t.db, { limit: 10, actor: "alice", action: "suspend" });
  assert.deepEqual(alice.rows.map((r) => r.target), ["d2.test", "d0.test"]);
});

Deno.test("migration 0009 adds events.actor without touching existing rows", async () => {
  await using t = await testDatabase();
  const { rows } = await sql<{ column_name: string; is_nullable: string }>`
    SELECT column_name, is_nullable FROM information_schema.columns
     WHERE table_schema = 'ferry' AND table_name = 'events' AND column_name = 'actor'`
    .execute(t.db);
  assert.deepEqual(rows, [{ column_name: "actor", is_nullable: "YES" }]);
});
