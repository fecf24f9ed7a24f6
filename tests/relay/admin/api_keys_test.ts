/**
 * Scoped API keys on the admin API: issuing, listing, revoking; which scope opens which route
 * (every route declares one); the audit trail naming the key behind each operator action.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { sql } from "kysely";
import { ingestOutbox } from "../../../db/ingest.ts";
import { API_KEY_SCOPES, type ApiKeyScope } from "../../../db/schema.ts";
import { apiRoutesOf } from "../../../relay/admin/app.ts";
import { insertOutbox } from "../../_support/outbox.ts";
import { type Fixture, fixture, settleAll } from "./_helpers.ts";

const TOKEN_SHAPE = /^fy_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/;

/** A request with `token` as the bearer; `body` is sent as JSON. */
function callAs(f: Fixture, token: string, method: string, path: string, body?: unknown) {
  return Promise.resolve(f.app.request(path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }));
}

/** Creates a key with the bootstrap token; returns its token. */
async function createKey(f: Fixture, name: string, scopes: readonly ApiKeyScope[]) {
  const res = await f.call("POST", "/api/v1/keys", { name, scopes });
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()).token as string;
}

Deno.test("POST /api/v1/keys answers the token once; GET lists keys without secrets; DELETE revokes", async () => {
  await using f = await fixture();
  const created = await f.call("POST", "/api/v1/keys", {
    name: "ci-deploy",
    scopes: ["send", "read", "send"],
  });
  assert.equal(created.status, 201);
  const body = await created.json();
  assert.match(body.token, TOKEN_SHAPE);
  assert.deepEqual(body, {
    name: "ci-deploy",
    scopes: ["read", "send"],
    prefix: body.token.slice(0, 19),
    created_at: new Date(f.clock.now()).toISOString(),
    revoked_at: null,
    last_used_at: null,
    token: body.token,
  });

  const list = await f.call("GET", "/api/v1/keys");
  assert.equal(list.status, 200);
  const listed = await list.json();
  assert.deepEqual(listed, {
    keys: [{
      name: "ci-deploy",
      scopes: ["read", "send"],
      prefix: body.prefix,
      created_at: body.created_at,
      revoked_at: null,
      last_used_at: null,
    }],
  });
  assert.doesNotMatch(JSON.stringify(listed), /fy_[0-9a-f]{16}_/);

  await f.clock.advance(5000);
  const revoked = await f.call("DELETE", "/api/v1/keys/ci-deploy");
  assert.equal(revoked.status, 200);
  const revokedAt = new Date(f.clock.now()).toISOString();
  assert.deepEqual(await revoked.json(), {
    name: "ci-deploy",
    revoked: true,
    revoked_at: revokedAt,
  });
  // Revoking again changes nothing; an unknown name is a 404.
  await f.clock.advance(5000);
  assert.deepEqual(await (await f.call("DELETE", "/api/v1/keys/ci-deploy")).json(), {
    name: "ci-deploy",
    revoked: true,
    revoked_at: revokedAt,
  });
  const unknown = await f.call("DELETE", "/api/v1/keys/nobody");
  assert.equal(unknown.status, 404);
  assert.match((await unknown.json()).error, /No API key named 'nobody'/);
  const after = (await (await f.call("GET", "/api/v1/keys")).json()).keys;
  assert.equal(after[0].revoked_at, revokedAt);
});

Deno.test("POST /api/v1/keys refuses bad names and scopes (400) and a name in use, even revoked (409)", async () => {
  await using f = await fixture();
  const cases: [unknown, string][] = [
    [{ name: "bootstrap", scopes: ["read"] }, "name"],
    [{ name: "has space", scopes: ["read"] }, "name"],
    [{ name: "x".repeat(65), scopes: ["read"] }, "name"],
    [{ name: "ok", scopes: [] }, "scopes"],
    [{ name: "ok", scopes: ["root"] }, "scopes.0"],
    [{ name: "ok" }, "scopes"],
    [{ name: "ok", scopes: ["read"], token: "mine" }, ""],
  ];
  for (const [body, field] of cases) {
    const res = await f.call("POST", "/api/v1/keys", body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal((await res.json()).field ?? "", field, JSON.stringify(body));
  }
  await createKey(f, "ops", ["operate"]);
  const taken = await f.call("POST", "/api/v1/keys", { name: "ops", scopes: ["read"] });
  assert.equal(taken.status, 409);
  assert.match((await taken.json()).error, /'ops' exists/);
  await f.call("DELETE", "/api/v1/keys/ops");
  assert.equal(
    (await f.call("POST", "/api/v1/keys", { name: "ops", scopes: ["read"] })).status,
    409,
  );
});

Deno.test("each scope opens its routes; others answer 403 naming the scope needed", async () => {
  await using f = await fixture();
  const tokens = {
    read: await createKey(f, "reader", ["read"]),
    send: await createKey(f, "sender", ["send"]),
    operate: await createKey(f, "operator", ["operate"]),
    admin: await createKey(f, "root", ["admin"]),
    readOperate: await createKey(f, "ops-desk", ["read", "operate"]),
  };
  const mail = { from_address: "a@shop.test", to_addresses: ["b@example.test"], text_body: "hi" };
  const routes: [string, string, unknown, ApiKeyScope][] = [
    ["GET", "/api/v1/queue", undefined, "read"],
    ["GET", "/api/v1/messages", undefined, "read"],
    ["GET", "/api/v1/audit", undefined, "read"],
    ["POST", "/api/v1/messages", mail, "send"],
    ["POST", "/api/v1/domains/example.test/suspend", { minutes: 5, reason: "t" }, "operate"],
    ["POST", "/api/v1/domains/example.test/resume", undefined, "operate"],
    ["POST", "/api/v1/flush", undefined, "operate"],
    ["POST", "/api/v1/bulk/cancel", { all: true, dryRun: true }, "operate"],
    ["POST", "/api/v1/suppressions", { address: "x@example.test", reason: "t" }, "operate"],
    ["GET", "/api/v1/keys", undefined, "admin"],
    ["POST", "/api/v1/keys", { name: "made", scopes: ["read"] }, "admin"],
  ];
  const holders: Record<keyof typeof tokens, readonly ApiKeyScope[]> = {
    read: ["read"],
    send: ["send"],
    operate: ["operate"],
    admin: ["admin"],
    readOperate: ["read", "operate"],
  };
  for (const [method, path, body, scope] of routes) {
    for (const [who, token] of Object.entries(tokens) as [keyof typeof tokens, string][]) {
      const allowed = holders[who].includes(scope) || holders[who].includes("admin");
      const res = await callAs(f, token, method, path, body);
      const what = `${who} ${method} ${path}`;
      if (allowed) {
        assert.ok(res.status >= 200 && res.status < 300, `${what}: ${res.status}`);
        await res.body?.cancel();
      } else {
        assert.equal(res.status, 403, what);
        const error = await res.json();
        assert.equal(error.required_scope, scope, what);
        assert.match(error.error, new RegExp(`lacks the '${scope}' scope`), what);
      }
      // A name is never reused, even revoked: the next allowed creation needs it gone.
      if (path === "/api/v1/keys" && method === "POST" && allowed) {
        await f.db.deleteFrom("ferry.api_keys").where("name", "=", "made").execute();
      }
    }
  }
});

Deno.test("every API route declares a scope, and a key without it gets 403 before validation", async () => {
  await using f = await fixture();
  const declared = apiRoutesOf(f.app);
  assert.ok(declared.length >= 25, `only ${declared.length} routes`);
  // Every route Hono serves under /api/ (the authentication middleware aside) was registered
  // with a scope: a route added beside ApiRoutes would be served without a check.
  const served = f.app.routes
    .filter((r) => r.path.startsWith("/api/") && !(r.method === "ALL" && r.path === "/api/*"))
    .map((r) => `${r.method} ${r.path}`);
  const withScope = declared.map((r) => `${r.method.toUpperCase()} /api/v1${r.path}`);
  assert.deepEqual([...served].sort(), [...withScope].sort());
  for (const r of declared) assert.ok(API_KEY_SCOPES.includes(r.scope), `${r.path}: ${r.scope}`);

  // Asked for by a key holding every scope but the route's own (and not admin), each route
  // answers 403 naming its scope; by a key holding just that scope, anything else.
  const tokens = new Map<ApiKeyScope, { without: string; only: string }>();
  for (const s of API_KEY_SCOPES) {
    tokens.set(s, {
      without: await createKey(
        f,
        `without-${s}`,
        API_KEY_SCOPES.filter((x) => x !== s && x !== "admin"),
      ),
      only: await createKey(f, `only-${s}`, [s]),
    });
  }
  const filled = (path: string) =>
    path.replace(":id", "1").replace(":domain", "example.test")
      .replace(":address", "a@example.test").replace(":name", "nobody");
  for (const r of declared) {
    const path = `/api/v1${filled(r.path)}`;
    const what = `${r.method.toUpperCase()} ${path}`;
    // An invalid body where one is allowed: the scope is checked first, so it is never read.
    const invalid = r.method === "get" ? undefined : { not: "a valid body" };
    const denied = await callAs(
      f,
      tokens.get(r.scope)!.without,
      r.method.toUpperCase(),
      path,
      invalid,
    );
    assert.equal(denied.status, 403, what);
    assert.equal((await denied.json()).required_scope, r.scope, what);
    const allowed = await callAs(f, tokens.get(r.scope)!.only, r.method.toUpperCase(), path);
    assert.ok(![401, 403].includes(allowed.status), `${what}: ${allowed.status}`);
    await allowed.body?.cancel();
  }
});

Deno.test("a revoked key, a wrong secret and a malformed token get 401; other keys go on working", async () => {
  await using f = await fixture();
  const gone = await createKey(f, "old", ["read"]);
  const kept = await createKey(f, "new", ["read"]);
  assert.equal((await callAs(f, gone, "GET", "/api/v1/queue")).status, 200);
  assert.equal((await f.call("DELETE", "/api/v1/keys/old")).status, 200);
  const refused = await callAs(f, gone, "GET", "/api/v1/queue");
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get("www-authenticate"), "Bearer");
  assert.deepEqual(await refused.json(), { error: "API key 'old' was revoked" });
  assert.equal((await callAs(f, kept, "GET", "/api/v1/queue")).status, 200);

  // The right id with another secret, a token of the wrong shape: the answer names nothing.
  const forged = kept.slice(0, 20) + "A".repeat(43);
  for (const token of [forged, kept.slice(0, -1), `${kept}x`, "fy_", "", gone.slice(0, 19)]) {
    const res = await callAs(f, token, "GET", "/api/v1/queue");
    assert.equal(res.status, 401, token);
    assert.deepEqual(await res.json(), { error: "missing or wrong bearer token" }, token);
  }
  assert.equal((await f.app.request("/api/v1/queue")).status, 401);
});

Deno.test("the bootstrap token acts as admin, named 'bootstrap'; keys note their last use", async () => {
  await using f = await fixture();
  const token = await createKey(f, "reader", ["read"]);
  assert.equal((await f.call("GET", "/api/v1/keys")).status, 200);
  assert.equal((await f.call("POST", "/api/v1/flush")).status, 200);
  const audit = (await (await f.call("GET", "/api/v1/audit")).json()).entries;
  assert.deepEqual(audit.map((e: { actor: string; action: string }) => [e.actor, e.action]), [
    ["bootstrap", "flush"],
    ["bootstrap", "key.create"],
  ]);

  const lastUsed = async () =>
    (await (await f.call("GET", "/api/v1/keys")).json()).keys[0].last_used_at;
  assert.equal(await lastUsed(), null);
  await callAs(f, token, "GET", "/api/v1/queue");
  const first = new Date(f.clock.now()).toISOString();
  assert.equal(await lastUsed(), first);
  // Within the minute: no write. After it: the new time.
  await f.clock.advance(30_000);
  await callAs(f, token, "GET", "/api/v1/queue");
  assert.equal(await lastUsed(), first);
  await f.clock.advance(31_000);
  await callAs(f, token, "GET", "/api/v1/queue");
  assert.equal(await lastUsed(), new Date(f.clock.now()).toISOString());
});

Deno.test("operator actions name the acting key in the audit trail and on delivery events", async () => {
  await using f = await fixture();
  const ops = await createKey(f, "ops-alice", ["read", "operate"]);
  const now = new Date(f.clock.now());
  const id = await insertOutbox(f.db, { to_addresses: ["a@x.test", "b@y.test"], send_at: now });
  const bounced = await insertOutbox(f.db, { to_addresses: ["c@z.test"], send_at: now });
  await ingestOutbox(f.db, { now });
  // The second message bounces, so a retry has something to requeue.
  await f.db.updateTable("ferry.deliveries").set({ status: "bounced" })
    .where("outbox_id", "=", bounced).execute();
  const as = (method: string, path: string, body?: unknown) => callAs(f, ops, method, path, body);

  assert.equal((await as("POST", `/api/v1/messages/${id}/cancel`)).status, 200);
  assert.equal((await as("POST", `/api/v1/messages/${bounced}/retry`)).status, 200);
  await settleAll(f.db, now, "deferred");
  assert.equal((await as("POST", "/api/v1/domains/z.test/flush")).status, 200);
  assert.equal((await as("POST", "/api/v1/flush")).status, 200);
  assert.equal(
    (await as("POST", "/api/v1/domains/x.test/suspend", { minutes: 10, reason: "abuse desk" }))
      .status,
    200,
  );
  assert.equal((await as("POST", "/api/v1/domains/x.test/resume")).status, 200);
  assert.equal(
    (await as("POST", "/api/v1/suppressions", { address: "Q@x.test", reason: "asked" })).status,
    201,
  );
  assert.equal((await as("DELETE", "/api/v1/suppressions/q@x.test")).status, 200);
  assert.equal(
    (await as("POST", "/api/v1/bulk/cancel", { domain: "z.test", reason: "stop" })).status,
    200,
  );
  // A dry run changes nothing, so it records nothing; neither does a failed action.
  assert.equal((await as("POST", "/api/v1/bulk/cancel", { all: true, dryRun: true })).status, 200);
  assert.equal((await as("DELETE", "/api/v1/suppressions/none@x.test")).status, 404);
  const root = await createKey(f, "root", ["admin"]);
  assert.equal((await callAs(f, root, "DELETE", "/api/v1/keys/ops-alice")).status, 200);

  const entries = (await (await f.call("GET", "/api/v1/audit")).json()).entries as {
    actor: string;
    action: string;
    target: string | null;
    detail: Record<string, unknown> | null;
  }[];
  assert.deepEqual(entries.map((e) => [e.actor, e.action, e.target]).reverse(), [
    ["bootstrap", "key.create", "ops-alice"],
    ["ops-alice", "cancel", String(id)],
    ["ops-alice", "retry", String(bounced)],
    ["ops-alice", "flush", "z.test"],
    ["ops-alice", "flush", null],
    ["ops-alice", "suspend", "x.test"],
    ["ops-alice", "resume", "x.test"],
    ["ops-alice", "suppress", "q@x.test"],
    ["ops-alice", "unsuppress", "q@x.test"],
    ["ops-alice", "cancel", null],
    ["bootstrap", "key.create", "root"],
    ["root", "key.revoke", "ops-alice"],
  ]);
  const byAction = (a: string) => entries.find((e) => e.action === a)!;
  assert.deepEqual(byAction("suspend").detail, {
    reason: "abuse desk",
    until: new Date(f.clock.now() + 600_000).toISOString(),
    minutes: 10,
  });
  assert.deepEqual(entries[2]!.detail, {
    filter: { domain: "z.test", all: false },
    reason: "stop",
    affected: 1,
    done: true,
  });
  assert.deepEqual(entries.at(-1)!.detail, {
    scopes: ["read", "operate"],
    prefix: entries.at(-1)!.detail!.prefix,
  });

  // The API's event output names the key on the events its actions wrote.
  const cancelled = await (await f.call("GET", `/api/v1/messages/${id}`)).json();
  const events = cancelled.deliveries.flatMap((d: { events: { kind: string; actor: string }[] }) =>
    d.events.map((e) => [e.kind, e.actor])
  );
  assert.deepEqual(events, [["cancelled", "ops-alice"], ["cancelled", "ops-alice"]]);
  const retried = await (await f.call("GET", `/api/v1/messages/${bounced}`)).json();
  assert.deepEqual(
    retried.deliveries[0].events.map((
      e: { kind: string; actor: string | null },
    ) => [e.kind, e.actor]),
    [["requeued", "ops-alice"], ["deferred", null], ["cancelled", "ops-alice"]],
  );

  // Filters: one actor's, one action's.
  const mine = await (await f.call("GET", "/api/v1/audit?actor=root")).json();
  assert.deepEqual(mine.entries.map((e: { action: string }) => e.action), ["key.revoke"]);
  const paged = await (await f.call("GET", "/api/v1/audit?action=flush&limit=1")).json();
  assert.equal(paged.entries.length, 1);
  const rest = await (await f.call("GET", `/api/v1/audit?action=flush&cursor=${paged.next_cursor}`))
    .json();
  assert.deepEqual(rest.entries.map((e: { target: string | null }) => e.target), ["z.test"]);
});

Deno.test("a key's secret is stored nowhere and logged nowhere: only its SHA-256 is kept", async () => {
  const printed: string[] = [];
  const methods = ["log", "error", "warn", "info", "debug"] as const;
  const saved = methods.map((m) => console[m]);
  for (const m of methods) console[m] = (...args: unknown[]) => void printed.push(args.join(" "));
  try {
    await using f = await fixture();
    const token = await createKey(f, "ci", ["read"]);
    const secret = token.slice(20);
    assert.equal((await callAs(f, token, "GET", "/api/v1/queue")).status, 200);
    await f.call("DELETE", "/api/v1/keys/ci");
    assert.equal((await callAs(f, token, "GET", "/api/v1/queue")).status, 401);

    const row = await f.db.selectFrom("ferry.api_keys").selectAll().executeTakeFirstOrThrow();
    assert.deepEqual(
      Buffer.from(row.hash).toString("hex"),
      createHash("sha256").update(secret).digest("hex"),
    );
    // Every row of every table of the schema, as text: neither the token nor its secret.
    const { rows: tables } = await sql<{ name: string }>`
      SELECT table_name AS name FROM information_schema.tables
       WHERE table_schema = 'ferry' AND table_type = 'BASE TABLE'`.execute(f.db);
    assert.ok(tables.some((t) => t.name === "audit_log"));
    for (const { name } of tables) {
      const { rows } = await sql<{ row: string }>`
        SELECT t::text AS row FROM ${sql.table(`ferry.${name}`)} t`.execute(f.db);
      for (const { row } of rows) {
        assert.ok(!row.includes(secret), `${name} holds the secret`);
      }
    }
  } finally {
    methods.forEach((m, i) => console[m] = saved[i]!);
  }
  assert.ok(!printed.some((line) => /fy_[0-9a-f]{16}_/.test(line)), printed.join("\n"));
});

Deno.test("the OpenAPI document gives each operation its scope and a 403", async () => {
  await using f = await fixture();
  const doc = await (await f.call("GET", "/api/v1/openapi.json")).json();
  const ops = Object.entries(doc.paths as Record<string, Record<string, Record<string, unknown>>>)
    .flatMap(([path, item]) =>
      Object.entries(item).map(([m, op]) => ({ key: `${m} ${path}`, op }))
    );
  for (const { key, op } of ops) {
    const scope = op["x-required-scope"] as string;
    assert.ok(API_KEY_SCOPES.includes(scope as ApiKeyScope), key);
    assert.deepEqual(op.security, [{ bearer: [scope] }], key);
    assert.ok((op.responses as Record<string, unknown>)["403"], key);
  }
  const scopeOf = (key: string) => ops.find((o) => o.key === key)?.op["x-required-scope"];
  assert.equal(scopeOf("post /api/v1/keys"), "admin");
  assert.equal(scopeOf("delete /api/v1/keys/{name}"), "admin");
  assert.equal(scopeOf("post /api/v1/messages"), "send");
  assert.equal(scopeOf("post /api/v1/bulk/retry"), "operate");
  assert.equal(scopeOf("get /api/v1/audit"), "read");
});
