import assert from "node:assert/strict";
import { fixture } from "./_helpers.ts";

Deno.test("GET /api/v1/openapi.json documents every route from the same Zod schemas", async () => {
  await using f = await fixture();
  assert.equal((await f.app.request("/api/v1/openapi.json")).status, 401);
  const doc = await (await f.call("GET", "/api/v1/openapi.json")).json();
  assert.equal(doc.openapi, "3.1.0");
  const ops = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));
  for (
    const route of [
      "GET /api/v1/queue",
      "GET /api/v1/domains",
      "GET /api/v1/domains/{domain}",
      "POST /api/v1/domains/{domain}/suspend",
      "POST /api/v1/domains/{domain}/resume",
      "POST /api/v1/domains/{domain}/flush",
      "GET /api/v1/messages",
      "GET /api/v1/messages/{id}",
      "POST /api/v1/messages",
      "POST /api/v1/messages/{id}/retry",
      "POST /api/v1/messages/{id}/cancel",
      "POST /api/v1/flush",
      "POST /api/v1/bulk/cancel",
      "POST /api/v1/bulk/retry",
      "GET /api/v1/suppressions",
      "POST /api/v1/suppressions",
      "DELETE /api/v1/suppressions/{address}",
      "GET /api/v1/events",
    ]
  ) assert.ok(ops.includes(route), route);

  const post = doc.paths["/api/v1/messages"].post;
  const body = post.requestBody.content["application/json"].schema;
  assert.deepEqual(body.required, ["from_address"]);
  assert.equal(body.properties.priority.maximum, 2);
  assert.equal(body.additionalProperties, false);
  assert.ok(post.responses["201"] && post.responses["400"] && post.responses["401"]);

  const search = doc.paths["/api/v1/messages"].get.parameters;
  const names = search.map((p: { name: string }) => p.name);
  assert.deepEqual(names, [
    "status",
    "domain",
    "recipient",
    "since",
    "until",
    "limit",
    "order",
    "cursor",
  ]);
  assert.ok(
    search.every((p: { in: string; required: boolean }) => p.in === "query" && !p.required),
  );
  const byId = doc.paths["/api/v1/messages/{id}"].get.parameters[0];
  assert.deepEqual([byId.name, byId.in, byId.required], ["id", "path", true]);
  assert.deepEqual(doc.components.securitySchemes.bearer, { type: "http", scheme: "bearer" });
});

Deno.test("GET /docs renders the API reference and /dashboard serves the live page", async () => {
  await using f = await fixture();
  const docs = await f.app.request("/docs");
  assert.equal(docs.status, 200);
  const html = await docs.text();
  assert.match(html, /<code>\/api\/v1\/bulk\/cancel<\/code>/);
  assert.match(html, /idempotency_key/);
  assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org)/, "no external assets");
  const dash = await (await f.app.request("/dashboard")).text();
  assert.match(dash, /id="counts"/);
  assert.match(dash, /\/api\/v1\/events/);
  assert.doesNotMatch(dash, /<script src=|<link /, "everything inline");
});
