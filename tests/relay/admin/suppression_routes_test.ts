import assert from "node:assert/strict";
import { ingestOutbox } from "../../../db/ingest.ts";
import { insertOutbox } from "../../_support/outbox.ts";
import { fixture } from "./_helpers.ts";

Deno.test("/api/v1/suppressions lists, adds and removes, and ingestion honours it", async () => {
  await using f = await fixture();
  for (const address of ["Zed@Example.test", "amy@example.test", "bob@other.test"]) {
    const res = await f.call("POST", "/api/v1/suppressions", { address, reason: "complained" });
    assert.equal(res.status, 201);
  }
  const page1 = await (await f.call("GET", "/api/v1/suppressions?limit=2")).json();
  assert.deepEqual(page1.suppressions.map((s: { address: string }) => s.address), [
    "amy@example.test",
    "bob@other.test",
  ]);
  const page2 = await (await f.call("GET", `/api/v1/suppressions?cursor=${page1.next_cursor}`))
    .json();
  assert.deepEqual(page2.suppressions.map((s: { address: string }) => s.address), [
    "zed@example.test",
  ]);
  assert.equal(page2.next_cursor, null);
  const prefixed = await (await f.call("GET", "/api/v1/suppressions?prefix=B")).json();
  assert.equal(prefixed.suppressions.length, 1);
  assert.equal(prefixed.suppressions[0].source, "manual");

  const now = new Date(f.clock.now());
  await insertOutbox(f.db, {
    to_addresses: ["zed@example.test", "new@example.test"],
    send_at: now,
  });
  const r = await ingestOutbox(f.db, { now });
  assert.equal(r.suppressed, 1);

  const removed = await f.call("DELETE", "/api/v1/suppressions/ZED%40example.test");
  assert.deepEqual(await removed.json(), {
    address: "zed@example.test",
    sender_domain: null,
    removed: true,
  });
  assert.equal((await f.call("DELETE", "/api/v1/suppressions/zed@example.test")).status, 404);
  const bad = await f.call("POST", "/api/v1/suppressions", { address: "nobody", reason: "x" });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).field, "address");
  for (const address of ["a b@v1.test", "a@x.test, b@y.test", "Zed <zed@example.test>"]) {
    const refused = await f.call("POST", "/api/v1/suppressions", { address, reason: "x" });
    assert.equal(refused.status, 400, address);
  }
});

Deno.test("/api/v1/suppressions keeps one entry per sender domain, and ingestion honours the scope", async () => {
  await using f = await fixture();
  const add = (body: Record<string, unknown>) => f.call("POST", "/api/v1/suppressions", body);
  assert.equal(
    (await add({ address: "ada@example.test", reason: "r", sender_domain: "A.test" })).status,
    201,
  );
  assert.equal(
    (await add({ address: "ada@example.test", reason: "r", sender_domain: "b.test" })).status,
    201,
  );
  assert.equal((await add({ address: "zed@example.test", reason: "r" })).status, 201);
  const bad = await add({
    address: "ada@example.test",
    reason: "r",
    sender_domain: "not a domain",
  });
  assert.equal(bad.status, 400);

  // Keyset pages walk (address, scope): one entry per page still reaches every entry.
  const seen: [string, string | null][] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 5; i++) {
    const q: string = cursor ? `&cursor=${cursor}` : "";
    const page = await (await f.call("GET", `/api/v1/suppressions?limit=1${q}`)).json();
    for (const s of page.suppressions) seen.push([s.address, s.sender_domain]);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  assert.deepEqual(seen, [
    ["ada@example.test", "a.test"],
    ["ada@example.test", "b.test"],
    ["zed@example.test", null],
  ]);

  const now = new Date(f.clock.now());
  const ids: number[] = [];
  for (const from of ["x@a.test", "x@c.test"]) {
    ids.push(
      await insertOutbox(f.db, {
        from_address: from,
        to_addresses: ["ada@example.test"],
        send_at: now,
      }),
    );
  }
  const r = await ingestOutbox(f.db, { now });
  assert.equal(r.suppressed, 1, "from a.test only");
  assert.equal(r.queued, 1, "c.test is not in any scope");

  const global = await f.call("DELETE", "/api/v1/suppressions/ada@example.test");
  assert.equal(global.status, 404, "ada has no global entry");
  const scoped = await f.call(
    "DELETE",
    "/api/v1/suppressions/ada@example.test?sender_domain=a.test",
  );
  assert.deepEqual(await scoped.json(), {
    address: "ada@example.test",
    sender_domain: "a.test",
    removed: true,
  });
});
