import assert from "node:assert/strict";
import { adminApp } from "../../../relay/admin/app.ts";
import { bearerMatches } from "../../../relay/admin/auth.ts";
import { ingestOutbox } from "../../../db/ingest.ts";
import { testDatabase } from "../../_support/db.ts";
import { insertOutbox } from "../../_support/outbox.ts";

const token = "0123456789abcdef0123";

Deno.test("bearerMatches() accepts exactly the token", () => {
  assert.equal(bearerMatches(`Bearer ${token}`, token), true);
  assert.equal(bearerMatches(`Bearer ${token}x`, token), false);
  assert.equal(bearerMatches(`bearer ${token}`, token), false);
  assert.equal(bearerMatches(undefined, token), false);
  assert.equal(bearerMatches("Bearer ", ""), false);
});

Deno.test("adminApp() serves /livez, /healthz and /readyz without a token and guards /api with 401", async () => {
  await using t = await testDatabase();
  let ready = false;
  const app = adminApp({
    db: t.db,
    token,
    ready: () => ready ? { ready: true } : { ready: false, reason: "the database does not answer" },
  });
  // Alive whatever the database does; ready only when it can work.
  assert.deepEqual(await (await app.request("/livez")).json(), { status: "ok" });
  assert.deepEqual(await (await app.request("/healthz")).json(), { status: "ok" });
  const unready = await app.request("/readyz");
  assert.equal(unready.status, 503);
  assert.deepEqual(await unready.json(), {
    status: "unready",
    reason: "the database does not answer",
  });
  ready = true;
  assert.deepEqual(await (await app.request("/readyz")).json(), { status: "ready" });
  const denied = await app.request("/api/v1/queue");
  assert.equal(denied.status, 401);
  assert.match((await denied.json()).error, /bearer token/);
  const missing = await app.request("/api/v1/nope", {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(missing.status, 404);
  assert.ok((await missing.json()).error);
});

Deno.test("adminApp() GET /api/v1/queue counts deliveries by status", async () => {
  await using t = await testDatabase();
  await insertOutbox(t.db, { to_addresses: ["a@x.test", "b@x.test", "bad"] });
  await ingestOutbox(t.db, { now: new Date() });
  const app = adminApp({ db: t.db, token, ready: () => ({ ready: true }) });
  const res = await app.request("/api/v1/queue", { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.counts.queued, 2);
  assert.equal(body.counts.rejected, 1);
});
