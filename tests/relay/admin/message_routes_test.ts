import assert from "node:assert/strict";
import { ingestOutbox } from "../../../db/ingest.ts";
import { insertOutbox } from "../../_support/outbox.ts";
import { fixture, settleAll } from "./_helpers.ts";

const mail = {
  from_address: "Shop <orders@shop.test>",
  to_addresses: ["Ada <ada@example.test>", "bob@example.test"],
  subject: "Your order",
  text_body: "Thanks",
};

Deno.test("POST /api/v1/messages enqueues, honours idempotency keys and wakes the relay", async () => {
  let woken = 0;
  await using f = await fixture({ hooks: { wake: () => woken++ } });
  const created = await f.call("POST", "/api/v1/messages", {
    ...mail,
    idempotency_key: "order-1",
    metadata: { order: 1 },
    headers: { "X-Campaign": "spring" },
  });
  assert.equal(created.status, 201);
  const { id, status } = await created.json();
  assert.equal(status, "created");
  assert.equal(woken, 1);
  const row = await f.db.selectFrom("ferry.outbox").selectAll().where("id", "=", id)
    .executeTakeFirstOrThrow();
  assert.deepEqual(row.to_addresses, mail.to_addresses);
  assert.deepEqual(row.metadata, { order: 1 });

  const again = await f.call("POST", "/api/v1/messages", { ...mail, idempotency_key: "order-1" });
  assert.equal(again.status, 200);
  assert.deepEqual(await again.json(), { id, status: "duplicate" });
  assert.equal(woken, 1);

  const raw = btoa("From: a@shop.test\r\nTo: b@example.test\r\nSubject: raw\r\n\r\nhi\r\n");
  const rawRes = await f.call("POST", "/api/v1/messages", {
    from_address: "a@shop.test",
    to_addresses: ["b@example.test"],
    raw_message: raw,
  });
  assert.equal(rawRes.status, 201);
  const rawRow = await f.db.selectFrom("ferry.outbox").select("raw_message")
    .where("id", "=", (await rawRes.json()).id).executeTakeFirstOrThrow();
  assert.match(new TextDecoder().decode(rawRow.raw_message!), /Subject: raw/);
});

Deno.test("POST /api/v1/messages answers 400 naming the field", async () => {
  await using f = await fixture();
  const cases: [unknown, RegExp, string | undefined][] = [
    [{ ...mail, from_address: undefined }, /'from_address'/, "from_address"],
    [{ ...mail, to_addresses: "ada@example.test" }, /'to_addresses'.*array/, "to_addresses"],
    [
      { ...mail, to_addresses: ["not an address"] },
      /'to_addresses'.*invalid recipient/,
      "to_addresses",
    ],
    // The strict grammar: one mailbox per element, never a guess.
    [
      { ...mail, to_addresses: ["a b@v1.test"] },
      /'to_addresses'.*"a b@v1\.test".*white space inside the address/,
      "to_addresses",
    ],
    [
      { ...mail, to_addresses: ["alice@example.com bob@evil.test"] },
      /'to_addresses'.*cannot parse address/,
      "to_addresses",
    ],
    [{ ...mail, from_address: "a@x.test, b@y.test" }, /one address per element/, "from_address"],
    [{ ...mail, to_addresses: [] }, /no recipients/, undefined],
    [{ ...mail, raw_message: btoa("x") }, /raw_message cannot be mixed/, "raw_message"],
    [{ ...mail, priority: 7 }, /'priority'/, "priority"],
    [{ ...mail, send_at: "tomorrow" }, /'send_at'/, "send_at"],
    [{ ...mail, colour: "red" }, /unknown field\(s\): colour/, undefined],
    ["{not json", /not valid JSON/, undefined],
  ];
  for (const [body, message, field] of cases) {
    const res = await f.call("POST", "/api/v1/messages", body);
    assert.equal(res.status, 400, JSON.stringify(body));
    const err = await res.json();
    assert.match(err.error, message);
    assert.equal(err.field, field, err.error);
  }
  const count = await f.db.selectFrom("ferry.outbox").select((eb) => eb.fn.countAll().as("n"))
    .executeTakeFirstOrThrow();
  assert.equal(Number(count.n), 0);
});

Deno.test("GET /api/v1/messages filters and pages with an opaque cursor", async () => {
  await using f = await fixture();
  const now = new Date(f.clock.now());
  for (let i = 0; i < 5; i++) {
    await insertOutbox(f.db, { to_addresses: [`u${i}@a.test`, `u${i}@b.test`], send_at: now });
  }
  await ingestOutbox(f.db, { now });
  const all: number[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 10; page++) {
    const q: string = `/api/v1/messages?domain=A.TEST&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
    const body = await (await f.call("GET", q)).json();
    all.push(...body.deliveries.map((d: { id: number; domain: string }) => {
      assert.equal(d.domain, "a.test");
      return d.id;
    }));
    cursor = body.next_cursor;
    if (!cursor) break;
  }
  assert.equal(all.length, 5);
  assert.deepEqual(all, [...all].sort((a, b) => b - a), "newest first");
  const one = await (await f.call("GET", "/api/v1/messages?recipient=u3@b.test")).json();
  assert.equal(one.deliveries.length, 1);
  assert.equal(one.deliveries[0].subject, "hello");
  const asc = await (await f.call("GET", "/api/v1/messages?order=asc&limit=1&status=queued"))
    .json();
  assert.equal(asc.deliveries[0].id, Math.min(...all, asc.deliveries[0].id));
  // created_at is the database's own now(): a day ahead is the future whatever the clocks say.
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
  const none = await (await f.call("GET", `/api/v1/messages?since=${tomorrow}`)).json();
  const some = await (await f.call("GET", `/api/v1/messages?until=${tomorrow}`)).json();
  assert.equal(some.deliveries.length, 10);
  assert.deepEqual(none, { deliveries: [], next_cursor: null });

  for (
    const [q, field] of [
      ["status=lost", "status"],
      ["limit=0", "limit"],
      ["cursor=garbage", "cursor"],
      ["since=yesterday", "since"],
      ["colour=red", undefined],
      [`order=desc&cursor=${asc.next_cursor}`, "cursor"],
    ] as const
  ) {
    const res = await f.call("GET", `/api/v1/messages?${q}`);
    assert.equal(res.status, 400, q);
    assert.equal((await res.json()).field, field, q);
  }
});

Deno.test("GET /api/v1/messages/{id} shows every delivery with its events; 404 otherwise", async () => {
  await using f = await fixture();
  const now = new Date(f.clock.now());
  const id = await insertOutbox(f.db, { to_addresses: ["a@x.test", "b@y.test"], send_at: now });
  await ingestOutbox(f.db, { now });
  await settleAll(f.db, now, "deferred");
  const res = await f.call("GET", `/api/v1/messages/${id}`);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.message.id, id);
  assert.equal(body.message.subject, "hello");
  assert.equal(body.deliveries.length, 2);
  for (const d of body.deliveries) {
    assert.equal(d.status, "deferred");
    assert.equal(d.events.length, 1);
    assert.equal(d.events[0].kind, "deferred");
    assert.equal(d.events[0].code, 451);
  }
  assert.equal((await f.call("GET", "/api/v1/messages/999999")).status, 404);
  const bad = await f.call("GET", "/api/v1/messages/abc");
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).field, "id");
});

Deno.test("POST /api/v1/messages/{id}/retry and /cancel act on one message", async () => {
  let flushed = 0;
  await using f = await fixture({ hooks: { flushed: () => flushed++ } });
  const now = new Date(f.clock.now());
  const id = await insertOutbox(f.db, { to_addresses: ["a@x.test", "b@x.test"], send_at: now });
  const other = await insertOutbox(f.db, { to_addresses: ["c@x.test"], send_at: now });
  await ingestOutbox(f.db, { now });
  await settleAll(f.db, now, "deferred");

  const retried = await (await f.call("POST", `/api/v1/messages/${id}/retry`)).json();
  assert.deepEqual(retried, { outbox_id: id, retried: 2 });
  assert.equal(flushed, 1);
  const due = await f.db.selectFrom("ferry.deliveries").select(["outbox_id", "next_attempt_at"])
    .execute();
  for (const d of due) {
    assert.equal(d.next_attempt_at.getTime() === now.getTime(), d.outbox_id === id);
  }

  const cancelled = await (await f.call("POST", `/api/v1/messages/${id}/cancel`)).json();
  assert.deepEqual(cancelled, { outbox_id: id, cancelled: 2, in_flight: 0 });
  // A cancelled message can be brought back by name.
  const back = await (await f.call("POST", `/api/v1/messages/${id}/retry`)).json();
  assert.equal(back.retried, 2);
  const statuses = await f.db.selectFrom("ferry.deliveries").select("status")
    .where("outbox_id", "=", id).execute();
  assert.deepEqual(statuses.map((s) => s.status), ["deferred", "deferred"]);
  const events = await f.db.selectFrom("ferry.events").select("kind")
    .where("outbox_id", "=", id).orderBy("id").execute();
  assert.deepEqual(events.map((e) => e.kind), [
    "deferred",
    "deferred",
    "cancelled",
    "cancelled",
    "requeued",
    "requeued",
  ]);
  assert.equal((await f.call("POST", "/api/v1/messages/424242/cancel")).status, 404);
  assert.equal((await f.call("POST", "/api/v1/messages/424242/retry")).status, 404);
  assert.ok(other > id);
});

Deno.test("POST /api/v1/messages takes require_tls (RFC 8689): stored, shown, false by default", async () => {
  await using f = await fixture();
  const strict = await f.call("POST", "/api/v1/messages", { ...mail, require_tls: true });
  assert.equal(strict.status, 201);
  const plain = await f.call("POST", "/api/v1/messages", mail);
  assert.equal(plain.status, 201);
  const ids = [(await strict.json()).id, (await plain.json()).id];
  const rows = await f.db.selectFrom("ferry.outbox").select(["id", "require_tls"])
    .orderBy("id").execute();
  assert.deepEqual(rows.map((r) => [Number(r.id), r.require_tls]), [
    [ids[0], true],
    [ids[1], false],
  ]);
  const shown = await (await f.call("GET", `/api/v1/messages/${ids[0]}`)).json();
  assert.equal(shown.message.require_tls, true);

  const doc = await (await f.call("GET", "/api/v1/openapi.json")).json();
  const body = doc.paths["/api/v1/messages"].post.requestBody.content["application/json"].schema;
  assert.equal(body.properties.require_tls.type, "boolean");

  const cases: [unknown, RegExp, string | undefined][] = [
    [{ ...mail, require_tls: "yes" }, /'require_tls'/, "require_tls"],
    // The header's only value is No; whoever writes Yes means require_tls.
    [
      { ...mail, headers: { "TLS-Required": "Yes" } },
      /TLS-Required only takes the value No.*set require_tls/,
      undefined,
    ],
    [
      { ...mail, require_tls: true, headers: { "tls-required": "No" } },
      /require_tls cannot be combined with the header tls-required: No/,
      "require_tls",
    ],
  ];
  for (const [body, message, field] of cases) {
    const res = await f.call("POST", "/api/v1/messages", body);
    assert.equal(res.status, 400, JSON.stringify(body));
    const err = await res.json();
    assert.match(err.error, message);
    assert.equal(err.field, field, err.error);
  }
  // Without require_tls the header asks what RFC 8689 §3 defines, and is kept.
  const optional = await f.call("POST", "/api/v1/messages", {
    ...mail,
    headers: { "TLS-Required": "No" },
  });
  assert.equal(optional.status, 201);
});
