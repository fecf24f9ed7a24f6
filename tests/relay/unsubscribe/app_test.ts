/**
 * The public listener's app (relay/unsubscribe/app.ts) against a real database: both body
 * encodings RFC 8058 allows, the size limit, methods and paths it does not serve, and a
 * database that fails (503, never 500, nothing half-written).
 */
import assert from "node:assert/strict";
import { Secret } from "../../../lib/secret.ts";
import { publicApp, UnsubscribeTokens } from "../../../relay/unsubscribe/mod.ts";
import type { UnsubscribeLogLine } from "../../../relay/unsubscribe/mod.ts";
import type { Db } from "../../../db/client.ts";
import { testDatabase } from "../../_support/db.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";

const T0 = Date.UTC(2030, 0, 1);
const CLAIMS = {
  deliveryId: 5,
  outboxId: 2,
  recipient: "ada@example.test",
  senderDomain: "news.test",
  issuedAt: T0 / 1000,
};

function setup(db: Db, publicUrl = "https://mail.example.com/ferry/") {
  const clock = new FakeClock(T0);
  const tokens = new UnsubscribeTokens(new Secret("k".repeat(32)), 86_400_000, clock);
  const lines: UnsubscribeLogLine[] = [];
  const app = publicApp({
    db,
    tokens,
    clock,
    logger: { log: (l) => lines.push(l) },
    publicUrl,
    maxBodySize: 256,
  });
  return { app, tokens, lines, clock };
}

const count = async (db: Db) =>
  (await db.selectFrom("ferry.suppressions").select("address").execute()).length;

Deno.test("publicApp() takes the one-click POST as multipart/form-data too, under the URL's path", async () => {
  await using t = await testDatabase();
  const { app, tokens } = setup(t.db);
  const token = await tokens.sign(CLAIMS);
  const form = new FormData();
  form.set("List-Unsubscribe", "One-Click");
  const res = await app.request(`/ferry/u/${token}`, { method: "POST", body: form });
  assert.equal(res.status, 200);
  assert.equal(await count(t.db), 1);
  // Outside the URL's path: not served.
  const outside = await app.request(`/u/${token}`, { method: "POST", body: form });
  assert.equal(outside.status, 404);
});

Deno.test("publicApp() answers 413 to a body over maxBodySize and writes nothing", async () => {
  await using t = await testDatabase();
  const { app, tokens } = setup(t.db);
  const token = await tokens.sign(CLAIMS);
  const res = await app.request(`/ferry/u/${token}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `List-Unsubscribe=One-Click&pad=${"x".repeat(1000)}`,
  });
  assert.equal(res.status, 413);
  assert.equal(await count(t.db), 0);
});

Deno.test("publicApp() serves nothing but the route: other methods and paths are 404", async () => {
  await using t = await testDatabase();
  const { app, tokens } = setup(t.db);
  const token = await tokens.sign(CLAIMS);
  for (
    const [method, path] of [
      ["PUT", `/ferry/u/${token}`],
      ["DELETE", `/ferry/u/${token}`],
      ["GET", "/"],
      ["GET", "/metrics"],
      ["POST", "/ferry/u/"],
    ]
  ) {
    const res = await app.request(path!, { method });
    assert.equal(res.status, 404, `${method} ${path}`);
  }
  assert.equal(await count(t.db), 0);
});

Deno.test("publicApp() answers an expired token 410, a forged one 403, and logs why", async () => {
  await using t = await testDatabase();
  const { app, tokens, clock, lines } = setup(t.db);
  const token = await tokens.sign(CLAIMS);
  const post = (tok: string) =>
    app.request(`/ferry/u/${tok}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "List-Unsubscribe=One-Click",
    });
  assert.equal((await post(`${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`)).status, 403);
  assert.equal((await post("not-a-token")).status, 400);
  await clock.advance(86_400_000 + 1000);
  assert.equal((await post(token)).status, 410);
  assert.equal(await count(t.db), 0);
  assert.deepEqual(lines.map((l) => l.event === "unsubscribe.refused" && l.problem), [
    "forged",
    "malformed",
    "expired",
  ]);
});

Deno.test("publicApp() answers 503 when the database fails, and the token stays usable", async () => {
  await using t = await testDatabase();
  const { app, tokens, lines } = setup(t.db);
  const token = await tokens.sign(CLAIMS);
  const post = () =>
    app.request(`/ferry/u/${token}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "List-Unsubscribe=One-Click",
    });
  // The events table gone for a moment: the transaction fails after the use was inserted.
  await t.db.schema.alterTable("ferry.events").renameTo("events_away").execute();
  assert.equal((await post()).status, 503);
  assert.equal(lines.at(-1)?.event, "unsubscribe.failed");
  await t.db.schema.alterTable("ferry.events_away").renameTo("events").execute();
  assert.equal(await count(t.db), 0, "rolled back as a whole");
  assert.equal((await post()).status, 200, "nothing was consumed by the failed attempt");
});
