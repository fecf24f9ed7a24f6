import assert from "node:assert/strict";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import { CachingResolver } from "../../../relay/dns/cache.ts";

function setup(options: { maxEntries?: number; maxTtl?: number } = {}) {
  const clock = new FakeClock();
  const inner = new FakeResolver({
    "example.test": { a: ["192.0.2.1"], ttl: 60 },
    "short.test": { a: ["192.0.2.2"], ttl: 0 },
  }, { negativeTtl: 30 });
  return { clock, inner, cache: new CachingResolver(inner, { clock, ...options }) };
}

Deno.test("CachingResolver.resolve() answers from the cache until the TTL runs out", async () => {
  const { clock, inner, cache } = setup();
  assert.deepEqual(await cache.resolve("example.test", "A"), {
    kind: "records",
    records: ["192.0.2.1"],
    ttl: 60,
  });
  await clock.advance(59_000);
  inner.set("example.test", { a: ["192.0.2.99"], ttl: 60 });
  const cached = await cache.resolve("Example.Test.", "A");
  assert.deepEqual(cached, { kind: "records", records: ["192.0.2.1"], ttl: 1 });
  assert.equal(inner.count("example.test", "A"), 1);
  await clock.advance(1_000);
  const fresh = await cache.resolve("example.test", "A");
  assert.deepEqual(fresh.kind === "records" ? fresh.records : fresh, ["192.0.2.99"]);
  assert.equal(inner.count("example.test", "A"), 2);
});

Deno.test("CachingResolver.resolve() keeps negative answers for their TTL (RFC 2308)", async () => {
  const { clock, inner, cache } = setup();
  assert.deepEqual(await cache.resolve("missing.test", "MX"), { kind: "nxdomain", ttl: 30 });
  assert.deepEqual(await cache.resolve("example.test", "MX"), { kind: "nodata", ttl: 30 });
  await clock.advance(10_000);
  assert.deepEqual(await cache.resolve("missing.test", "MX"), { kind: "nxdomain", ttl: 20 });
  assert.equal(inner.count("missing.test"), 1);
  await clock.advance(20_000);
  await cache.resolve("missing.test", "MX");
  assert.equal(inner.count("missing.test"), 2);
});

Deno.test("CachingResolver.resolve() never keeps transient errors or zero TTLs", async () => {
  const { inner, cache } = setup();
  inner.fail("example.test", "error");
  assert.equal((await cache.resolve("example.test", "A")).kind, "error");
  inner.heal();
  assert.equal((await cache.resolve("example.test", "A")).kind, "records");
  await cache.resolve("short.test", "A");
  await cache.resolve("short.test", "A");
  assert.equal(inner.count("example.test", "A"), 2);
  assert.equal(inner.count("short.test", "A"), 2);
});

Deno.test("CachingResolver.resolve() caps TTLs at maxTtl", async () => {
  const { clock, inner, cache } = setup({ maxTtl: 10 });
  await cache.resolve("example.test", "A");
  await clock.advance(10_000);
  await cache.resolve("example.test", "A");
  assert.equal(inner.count("example.test", "A"), 2);
});

Deno.test("CachingResolver.resolve() evicts the least recently used answer beyond maxEntries", async () => {
  const { inner, cache } = setup({ maxEntries: 2 });
  await cache.resolve("example.test", "A"); // [A example]
  await cache.resolve("missing.test", "A"); // [A example, A missing]
  await cache.resolve("example.test", "A"); // hit: [A missing, A example]
  await cache.resolve("other.test", "A"); // evicts A missing
  assert.equal(cache.size, 2);
  await cache.resolve("example.test", "A");
  await cache.resolve("missing.test", "A");
  assert.equal(inner.count("example.test", "A"), 1);
  assert.equal(inner.count("missing.test", "A"), 2);
});

Deno.test("CachingResolver.clear() forgets every answer", async () => {
  const { inner, cache } = setup();
  await cache.resolve("example.test", "A");
  cache.clear();
  await cache.resolve("example.test", "A");
  assert.equal(inner.count("example.test", "A"), 2);
});
