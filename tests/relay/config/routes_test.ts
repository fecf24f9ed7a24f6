/**
 * Static routes from the config file (`routes`) and from `FERRY_ROUTES`: defaults, TLS, smarthost
 * credentials held as Secrets, password files, and every refusal naming its key.
 */
import assert from "node:assert/strict";
import { ConfigError, loadConfig, type Route } from "../../../relay/config/config.ts";
import { Secret } from "../../../lib/secret.ts";

const host = () => "relay.example";

/** Loads a config file holding `routes`, with `files` readable besides the config itself. */
function load(
  routes: unknown,
  env: Record<string, string> = {},
  files: Record<string, string> = {},
) {
  return loadConfig(
    { FERRY_CONFIG: "ferry.json", ...env },
    (path) => {
      if (path === "ferry.json") return JSON.stringify({ routes });
      const text = files[path];
      if (text === undefined) throw new Deno.errors.NotFound(`No such file: ${path}`);
      return text;
    },
    host,
  );
}

/** Asserts a ConfigError whose key and message match. */
function refused(fn: () => unknown, key: RegExp, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `a ConfigError, not ${e}`);
    assert.match(e.key, key);
    assert.match(e.message, message);
    return true;
  });
}

/** A route without its Secret, for deepEqual. */
function plain(r: Route): unknown {
  return r.auth ? { ...r, auth: { ...r.auth, password: r.auth.password.reveal() } } : r;
}

Deno.test("config routes: a plain route keeps the destination's TLS policy and port 25", () => {
  const c = load([{ pattern: "Example.COM", host: "MX.Example.net" }]);
  assert.deepEqual(c.routes, [{ pattern: "example.com", host: "mx.example.net", port: 25 }]);
});

Deno.test("config routes: tls picks the port (465 implicit, else 25) and verifies by default", () => {
  const c = load([
    { pattern: "*", host: "smtp.example.net", tls: "implicit" },
    { pattern: "a.test", host: "smtp.example.net", port: 587, tls: "starttls" },
    { pattern: "*.b.test", host: "10.0.0.1", tls: "starttls", verify: false },
    { pattern: "c.test", host: "[2001:db8::1]", port: 465 },
  ]);
  assert.deepEqual(c.routes, [
    { pattern: "*", host: "smtp.example.net", port: 465, tls: "implicit", verify: true },
    { pattern: "a.test", host: "smtp.example.net", port: 587, tls: "starttls", verify: true },
    { pattern: "*.b.test", host: "10.0.0.1", port: 25, tls: "starttls", verify: false },
    // Port 465 alone means implicit TLS (RFC 8314 §3.3), as in FERRY_ROUTES.
    { pattern: "c.test", host: "2001:db8::1", port: 465, tls: "implicit", verify: true },
  ]);
});

Deno.test("config routes: credentials are Secrets that never print", () => {
  const c = load([{
    pattern: "*",
    host: "smtp.example.net",
    port: 587,
    tls: "starttls",
    auth: { username: "ferry@example.org", password: "hunter2-s3cret", mechanism: "LOGIN" },
  }]);
  const auth = c.routes[0]!.auth!;
  assert.ok(auth.password instanceof Secret);
  assert.equal(auth.password.reveal(), "hunter2-s3cret");
  assert.deepEqual(plain(c.routes[0]!), {
    pattern: "*",
    host: "smtp.example.net",
    port: 587,
    tls: "starttls",
    verify: true,
    auth: { username: "ferry@example.org", password: "hunter2-s3cret", mechanism: "LOGIN" },
  });
  for (const shown of [JSON.stringify(c), Deno.inspect(c, { depth: 20 }), String(auth.password)]) {
    assert.ok(!shown.includes("hunter2"), shown);
  }
});

Deno.test("config routes: passwordFile is read at load, its final newline dropped", () => {
  const c = load(
    [{
      pattern: "*",
      host: "smtp.example.net",
      tls: "implicit",
      auth: { username: "u", passwordFile: "/run/secrets/smarthost" },
    }],
    {},
    { "/run/secrets/smarthost": " spaced pass \n" },
  );
  assert.equal(c.routes[0]!.auth!.password.reveal(), " spaced pass ");
  assert.ok(!Deno.inspect(c, { depth: 20 }).includes("spaced pass"));
});

Deno.test("config routes: an unreadable or empty passwordFile is refused, naming the key", () => {
  const route = (file: string) => [{
    pattern: "*",
    host: "smtp.example.net",
    tls: "implicit",
    auth: { username: "u", passwordFile: file },
  }];
  refused(
    () => load(route("/run/secrets/missing")),
    /^FERRY_CONFIG key routes\.0\.auth\.passwordFile$/,
    /cannot read \/run\/secrets\/missing/,
  );
  refused(
    () => load(route("/run/secrets/empty"), {}, { "/run/secrets/empty": "\n" }),
    /^FERRY_CONFIG key routes\.0\.auth\.passwordFile$/,
    /\/run\/secrets\/empty is empty/,
  );
});

Deno.test("config routes: credentials without TLS are refused, naming the key", () => {
  refused(
    () =>
      load([
        { pattern: "a.test", host: "smtp.example.net", tls: "starttls" },
        {
          pattern: "*",
          host: "smtp.example.net",
          port: 587,
          auth: { username: "u", password: "p" },
        },
      ]),
    /^ferry\.json key routes\.1\.auth$/,
    /credentials are only sent over TLS/,
  );
});

Deno.test("config routes: every other mistake names its key", () => {
  const cases: [unknown, RegExp, RegExp][] = [
    [
      [{ pattern: "*", host: "h.test", verify: false }],
      /routes\.0\.verify$/,
      /only applies to a TLS route/,
    ],
    [
      [{ pattern: "*", host: "h.test", tls: "implicit", auth: { username: "u" } }],
      /routes\.0\.auth$/,
      /exactly one of password and passwordFile/,
    ],
    [
      [{
        pattern: "*",
        host: "h.test",
        tls: "implicit",
        auth: { username: "u", password: "p", passwordFile: "/f" },
      }],
      /routes\.0\.auth$/,
      /exactly one of password and passwordFile/,
    ],
    [
      [{
        pattern: "*",
        host: "h.test",
        tls: "implicit",
        auth: { username: "u", password: "p", mechanism: "CRAM-MD5" },
      }],
      /routes\.0\.auth\.mechanism$/,
      /PLAIN|LOGIN/,
    ],
    [[{ pattern: "*", host: "h.test", tls: "ssl" }], /routes\.0\.tls$/, /starttls|implicit/],
    [[{ pattern: "*", host: "h.test", port: 0 }], /routes\.0\.port$/, /./],
    [[{ pattern: "exa mple.com", host: "h.test" }], /routes\.0\.pattern$/, /must be a domain/],
    [[{ pattern: "*", host: "bad host" }], /routes\.0\.host$/, /host name or an IP/],
    [[{ pattern: "*", host: "h.test", user: "u" }], /routes\.0$/, /user/],
    [
      [{ pattern: "*", host: "a.test" }, { pattern: "*", host: "b.test" }],
      /routes\.1\.pattern$/,
      /already routed by routes\.0/,
    ],
  ];
  for (const [routes, key, message] of cases) refused(() => load(routes), key, message);
});

Deno.test("FERRY_ROUTES: an optional /starttls or /implicit suffix; port 465 alone is implicit", () => {
  const c = loadConfig(
    {
      FERRY_ROUTES:
        "a.test=smtp.example.net:587/starttls, b.test=[::1]:2465/IMPLICIT,c.test=h.test:465,d.test=h.test:25",
    },
    () => "{}",
    host,
  );
  assert.deepEqual(c.routes, [
    { pattern: "a.test", host: "smtp.example.net", port: 587, tls: "starttls", verify: true },
    { pattern: "b.test", host: "::1", port: 2465, tls: "implicit", verify: true },
    { pattern: "c.test", host: "h.test", port: 465, tls: "implicit", verify: true },
    { pattern: "d.test", host: "h.test", port: 25 },
  ]);
  refused(
    () => loadConfig({ FERRY_ROUTES: "a.test=h.test:25/tls" }, () => "{}", host),
    /^FERRY_ROUTES$/,
    /only \/starttls and \/implicit/,
  );
  refused(
    () => loadConfig({ FERRY_ROUTES: "a.test=h.test:25,A.test=h.test:26" }, () => "{}", host),
    /^FERRY_ROUTES$/,
    /'a\.test' is routed twice/,
  );
});

Deno.test("config routes: the file and FERRY_ROUTES join; a pattern in both names both", () => {
  const c = load([{ pattern: "a.test", host: "h.test", tls: "starttls" }], {
    FERRY_ROUTES: "*=127.0.0.1:2525",
  });
  assert.deepEqual(c.routes.map((r) => r.pattern), ["a.test", "*"]);
  refused(
    () => load([{ pattern: "*", host: "h.test" }], { FERRY_ROUTES: "a.test=h:25,*=h:25" }),
    /^FERRY_ROUTES and FERRY_CONFIG key routes\.0\.pattern$/,
    /'\*' is routed in both/,
  );
});

/** Loads a config file whose `delivery.fallbackRelay` is `relay`. */
function loadFallback(relay: unknown, files: Record<string, string> = {}) {
  return loadConfig(
    { FERRY_CONFIG: "ferry.json" },
    (path) =>
      path === "ferry.json"
        ? JSON.stringify({ delivery: { fallbackRelay: relay } })
        : files[path] ?? (() => {
          throw new Deno.errors.NotFound(path);
        })(),
    host,
  );
}

Deno.test("config fallbackRelay: a route without pattern, its defaults and password file as a route's", () => {
  const c = loadFallback({
    host: "Relay.Example.NET",
    tls: "starttls",
    port: 587,
    auth: { username: "u", passwordFile: "/s" },
    after: "4h",
  }, { "/s": "pw\n" });
  const f = c.delivery.fallbackRelay!;
  assert.equal(f.afterMs, 4 * 3600_000);
  assert.deepEqual(plain(f.route), {
    pattern: "*",
    host: "relay.example.net",
    port: 587,
    tls: "starttls",
    verify: true,
    auth: { username: "u", password: "pw" },
  });
  assert.equal(
    loadFallback({ host: "10.0.0.5", after: "30m" }).delivery.fallbackRelay!.route.port,
    25,
  );
  assert.equal(loadConfig({}, () => "{}", host).delivery.fallbackRelay, undefined);
});

Deno.test("config fallbackRelay: mistakes are refused as a route's, naming the key", () => {
  refused(
    () => loadFallback({ host: "r.test", auth: { username: "u", password: "p" }, after: "1h" }),
    /^ferry\.json key delivery\.fallbackRelay\.auth$/,
    /credentials are only sent over TLS/,
  );
  refused(
    () => loadFallback({ host: "r.test" }),
    /^ferry\.json key delivery\.fallbackRelay\.after$/,
    /./,
  );
  refused(
    () => loadFallback({ pattern: "*", host: "r.test", after: "1h" }),
    /^ferry\.json key delivery\.fallbackRelay$/,
    /pattern/,
  );
});
