/** `POST /api/v1/messages` with `list_unsubscribe`: stored when the relay can honour it, 400 otherwise. */
import assert from "node:assert/strict";
import { fixture } from "./_helpers.ts";

const MAIL = {
  from_address: "letters@news.test",
  to_addresses: ["ada@example.test"],
  subject: "news",
  text_body: "hello",
  list_unsubscribe: true,
};

Deno.test("POST /api/v1/messages stores list_unsubscribe when one-click unsubscribe is configured", async () => {
  await using f = await fixture({ listUnsubscribe: true });
  const res = await f.call("POST", "/api/v1/messages", MAIL);
  assert.equal(res.status, 201);
  const { id } = await res.json();
  const row = await f.db.selectFrom("ferry.outbox").select("list_unsubscribe").where("id", "=", id)
    .executeTakeFirstOrThrow();
  assert.equal(row.list_unsubscribe, true);
  const plain = await f.call("POST", "/api/v1/messages", { ...MAIL, list_unsubscribe: undefined });
  const stored = await f.db.selectFrom("ferry.outbox").select("list_unsubscribe")
    .where("id", "=", (await plain.json()).id).executeTakeFirstOrThrow();
  assert.equal(stored.list_unsubscribe, false, "the default");
});

Deno.test("POST /api/v1/messages refuses list_unsubscribe on a relay without it, naming the field", async () => {
  await using f = await fixture();
  const res = await f.call("POST", "/api/v1/messages", MAIL);
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.field, "list_unsubscribe");
  assert.match(body.error, /one-click unsubscribe is not configured/);
  assert.equal((await f.db.selectFrom("ferry.outbox").select("id").execute()).length, 0);
});

Deno.test("POST /api/v1/messages refuses list_unsubscribe with an own List-Unsubscribe header", async () => {
  await using f = await fixture({ listUnsubscribe: true });
  const res = await f.call("POST", "/api/v1/messages", {
    ...MAIL,
    headers: { "List-Unsubscribe": "<mailto:leave@news.test>" },
  });
  assert.equal(res.status, 400);
  assert.match((await res.json()).error, /list_unsubscribe cannot be combined with the header/);
});
