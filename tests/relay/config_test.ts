import assert from "node:assert/strict";
import { ConfigError, loadConfig, parseFileConfig } from "../../relay/config.ts";
import { parseDuration, parseRate } from "../../relay/units.ts";

const host = () => "relay.example";

Deno.test("loadConfig() applies the contract's defaults", () => {
  const c = loadConfig({}, () => "{}", host);
  assert.equal(c.databaseUrl, undefined);
  assert.equal(c.dataDir, "./.ferry");
  assert.deepEqual(c.admin, { hostname: "127.0.0.1", port: 8787 });
  assert.equal(c.adminToken, undefined);
  assert.deepEqual(c.routes, []);
  assert.equal(c.hostname, "relay.example");
  assert.equal(c.queue.maxLifetime, 5 * 86_400_000);
  assert.equal(c.queue.pollMin, 5);
  assert.equal(c.queue.notify, false);
});

Deno.test("loadConfig() names the variable that is wrong", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ DATABASE_URL: "mysql://x" }, /DATABASE_URL: must be a postgres/],
    [{ FERRY_ADMIN_LISTEN: "8787" }, /FERRY_ADMIN_LISTEN: expected host:port/],
    [{ FERRY_ADMIN_LISTEN: "127.0.0.1:99999" }, /FERRY_ADMIN_LISTEN/],
    [{ FERRY_ADMIN_TOKEN: "short" }, /FERRY_ADMIN_TOKEN: must be at least 16/],
    [{ FERRY_ROUTES: "example.com" }, /FERRY_ROUTES: entry "example.com"/],
    [{ FERRY_HOSTNAME: "bad host" }, /FERRY_HOSTNAME/],
    [{ FERRY_CONFIG: "/nonexistent/ferry.json" }, /FERRY_CONFIG: cannot read/],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => loadConfig(env, (p) => Deno.readTextFileSync(p), host),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
      JSON.stringify(env),
    );
  }
});

Deno.test("loadConfig() parses routes: exact, suffix, smarthost and IPv6", () => {
  const c = loadConfig(
    { FERRY_ROUTES: "a.test=127.0.0.1:2525, *.b.test=mx.b.test:25,*=[::1]:587" },
    () => "{}",
    host,
  );
  assert.deepEqual(c.routes, [
    { pattern: "a.test", host: "127.0.0.1", port: 2525 },
    { pattern: "*.b.test", host: "mx.b.test", port: 25 },
    { pattern: "*", host: "::1", port: 587 },
  ]);
});

Deno.test("parseFileConfig() rejects unknown keys and bad units, naming the key", () => {
  assert.throws(
    () => parseFileConfig(`{"queue":{"retention":"forever"}}`, "f.json"),
    /f.json key queue.retention: expected a duration/,
  );
  assert.throws(
    () => parseFileConfig(`{"queue":{"nope":1}}`, "f.json"),
    /f.json key queue: .*nope/,
  );
  assert.throws(() => parseFileConfig(`{"extra":{}}`, "f.json"), /f.json key \(root\): .*extra/);
  assert.throws(() => parseFileConfig(`{`, "f.json"), /f.json: not valid JSON/);
  assert.equal(parseFileConfig(`{"queue":{"retention":"7d"}}`).queue.retention, 7 * 86_400_000);
});

Deno.test("parseDuration() and parseRate() read the config's units", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("1.5h"), 5_400_000);
  assert.equal(parseDuration("5 d"), undefined);
  assert.equal(parseDuration("5"), undefined);
  assert.deepEqual(parseRate("100/s"), { count: 100, perMs: 1000 });
  assert.deepEqual(parseRate("1000/h"), { count: 1000, perMs: 3_600_000 });
  assert.deepEqual(parseRate("20/min"), { count: 20, perMs: 60_000 });
  assert.equal(parseRate("0/s"), undefined);
  assert.equal(parseRate("fast"), undefined);
});
