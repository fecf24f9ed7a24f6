import assert from "node:assert/strict";
import { ConfigError, loadConfig, parseFileConfig } from "../../../relay/config/config.ts";
import { parseDuration, parseRate } from "../../../lib/units.ts";

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

Deno.test("parseFileConfig() reads a domain's rates with or without a burst, naming a bad one", () => {
  const c = parseFileConfig(
    `{"domains":{"a.test":{"rates":["10/s",{"rate":"100/m","burst":20}],
      "connectionRate":{"rate":"5/m","burst":2}}}}`,
  );
  assert.deepEqual(c.domains["a.test"], {
    rates: [{ count: 10, perMs: 1000 }, { count: 100, perMs: 60_000, burst: 20 }],
    connectionRate: { count: 5, perMs: 60_000, burst: 2 },
  });
  assert.throws(
    () => parseFileConfig(`{"domains":{"a":{"rates":[{"rate":"1/s","burst":0}]}}}`, "f.json"),
    /f.json key domains.a.rates.0.burst/,
  );
  assert.throws(
    () => parseFileConfig(`{"domains":{"a":{"rates":["fast"]}}}`, "f.json"),
    /f.json key domains.a.rates.0.rate: expected a rate/,
  );
  assert.throws(
    () => parseFileConfig(`{"domains":{"a":{"rates":[{"rate":"1/s","bursts":2}]}}}`, "f.json"),
    /f.json key domains.a.rates.0: .*bursts/,
  );
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

Deno.test("parseFileConfig() reads webhooks and alerts, with defaults, naming a bad key", () => {
  const defaults = parseFileConfig("{}");
  assert.equal(defaults.webhooks, undefined);
  assert.deepEqual(defaults.alerts, {
    interval: 30_000,
    oldestQueuedAge: 3_600_000,
    bounceRate: { threshold: 0.05, window: 900_000, minOutcomes: 50 },
    unreachableFor: 600_000,
  });
  const c = parseFileConfig(JSON.stringify({
    webhooks: { urls: ["https://hooks.test/ferry"], secret: "0123456789abcdef", timeout: "5s" },
    alerts: { bounceRate: null, unreachableFor: "2m" },
  }));
  assert.deepEqual(c.webhooks?.urls, ["https://hooks.test/ferry"]);
  assert.equal(c.webhooks?.timeout, 5000);
  assert.equal(c.webhooks?.maxAttempts, 12);
  assert.equal(c.alerts.bounceRate, null);
  assert.equal(c.alerts.unreachableFor, 120_000);

  const secret = "0123456789abcdef";
  const cases: [unknown, RegExp][] = [
    [{ webhooks: { urls: ["ftp://hooks.test"], secret } }, /key webhooks\.urls\.0: /],
    [{ webhooks: { urls: [], secret } }, /key webhooks\.urls: /],
    [{ webhooks: { urls: ["https://h.test"], secret: "short" } }, /key webhooks\.secret: .*16/],
    [{ webhooks: { urls: ["https://h.test"] } }, /key webhooks\.secret: /],
    [{ webhooks: { urls: ["https://h.test"], secret, events: ["x"] } }, /key webhooks\.events\.0/],
    [{ webhooks: { urls: ["https://h.test"], secret, timeout: "10" } }, /webhooks\.timeout: .*dur/],
    [{ webhooks: { urls: ["https://h.test"], secret, retries: 3 } }, /key webhooks: .*retries/],
    [{ alerts: { interval: "soon" } }, /key alerts\.interval: expected a duration/],
    [{ alerts: { interval: "0s" } }, /key alerts\.interval: must be at least 1000 ms/],
    [{ webhooks: { urls: ["https://h.test"], secret, pollInterval: "0ms" } }, /pollInterval: must/],
    [{ alerts: { bounceRate: { threshold: 2 } } }, /key alerts\.bounceRate\.threshold: /],
    [{ alerts: { oldestQueuedAge: 60 } }, /key alerts\.oldestQueuedAge: /],
    [{ alerts: { paging: true } }, /key alerts: .*paging/],
  ];
  for (const [json, message] of cases) {
    assert.throws(
      () => parseFileConfig(JSON.stringify(json), "f.json"),
      (e: unknown) =>
        e instanceof ConfigError && /^Invalid configuration f\.json key /.test(e.message) &&
        message.test(e.message),
      JSON.stringify(json),
    );
  }
});

Deno.test("parseFileConfig() reads tlsReports, with defaults, naming a bad key", () => {
  assert.equal(parseFileConfig("{}").tlsReports, undefined);
  const c = parseFileConfig(JSON.stringify({
    tlsReports: {
      organizationName: "Example Inc.",
      contact: "Postmaster <postmaster@example.com>",
      from: "TLS reports <tlsrpt@Mail.Example.com>",
    },
  }));
  assert.deepEqual(c.tlsReports, {
    enabled: true,
    organizationName: "Example Inc.",
    contact: "postmaster@example.com",
    from: "TLS reports <tlsrpt@Mail.Example.com>",
    submitter: "mail.example.com",
    sendHour: 1,
    timeout: 30_000,
    retention: 30 * 86_400_000,
  });
  const own = parseFileConfig(JSON.stringify({
    tlsReports: {
      enabled: false,
      organizationName: "Example Inc.",
      contact: "postmaster@example.com",
      from: "tlsrpt@example.com",
      submitter: "mta.example.com",
      sendHour: 5,
      timeout: "10s",
      retention: "7d",
    },
  }));
  assert.equal(own.tlsReports?.enabled, false);
  assert.equal(own.tlsReports?.submitter, "mta.example.com");
  assert.equal(own.tlsReports?.sendHour, 5);
  assert.equal(own.tlsReports?.retention, 7 * 86_400_000);

  const base = { organizationName: "X", contact: "p@example.com", from: "t@example.com" };
  const cases: [unknown, RegExp][] = [
    [
      { tlsReports: { contact: "p@example.com", from: "t@example.com" } },
      /tlsReports\.organizationName/,
    ],
    [{ tlsReports: { ...base, from: "not an address" } }, /key tlsReports\.from: /],
    [
      { tlsReports: { ...base, from: "Tëst <t@example.com>" } },
      /tlsReports\.from: must be printable ASCII/,
    ],
    [{ tlsReports: { ...base, contact: "t@example.com\r\nBcc: x@y.z" } }, /tlsReports\.contact/],
    [{ tlsReports: { ...base, sendHour: 24 } }, /key tlsReports\.sendHour: /],
    [
      { tlsReports: { ...base, submitter: "not a domain" } },
      /tlsReports\.submitter: must be a domain/,
    ],
    [{ tlsReports: { ...base, retention: "1d" } }, /tlsReports\.retention: must be at least/],
    [{ tlsReports: { ...base, rua: "x" } }, /key tlsReports: .*rua/],
  ];
  for (const [json, message] of cases) {
    assert.throws(() => parseFileConfig(JSON.stringify(json)), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, message);
      return true;
    });
  }
});

Deno.test("parseFileConfig() reads per-sender limits keyed by sender domain or tenant, naming a bad key", () => {
  const c = parseFileConfig(JSON.stringify({
    senders: {
      "noisy.example": { rate: "10/s", maxConnections: 4 },
      "tenant:acme": { rate: ["100/m", { rate: "1000/h", burst: 10 }] },
      "busy.example": { maxConnections: 2 },
    },
    delivery: { tenantKey: "customer" },
  }));
  assert.deepEqual(c.senders, {
    "noisy.example": { rate: [{ count: 10, perMs: 1_000 }], maxConnections: 4 },
    "tenant:acme": {
      rate: [{ count: 100, perMs: 60_000 }, { count: 1_000, perMs: 3_600_000, burst: 10 }],
    },
    "busy.example": { maxConnections: 2 },
  });
  assert.equal(c.delivery.tenantKey, "customer");
  assert.equal(parseFileConfig("{}").delivery.tenantKey, "tenant");
  assert.deepEqual(parseFileConfig("{}").senders, {});
  const bad: [unknown, RegExp][] = [
    [
      { "Noisy.example": { rate: "1/s" } },
      /key senders\.Noisy\.example: expected a lower-case sender domain/,
    ],
    [{ "tenant:": { rate: "1/s" } }, /key senders\.tenant:: expected a lower-case sender domain/],
    [{ "a.example": { rate: "10/x" } }, /key senders\.a\.example\.rate\.0\.rate: expected a rate/],
    [{ "a.example": {} }, /key senders\.a\.example: set rate and\/or maxConnections/],
    [
      { "a.example": { rate: ["1/s", "1/s"] } },
      /key senders\.a\.example\.rate: list each rate once/,
    ],
    [{ "a.example": { maxConnections: 0 } }, /key senders\.a\.example\.maxConnections/],
    [{ "a.example": { rates: "1/s" } }, /key senders\.a\.example: .*rates/],
  ];
  for (const [senders, message] of bad) {
    assert.throws(() => parseFileConfig(JSON.stringify({ senders }), "f.json"), message);
  }
});
