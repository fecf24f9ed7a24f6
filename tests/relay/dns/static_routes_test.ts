import assert from "node:assert/strict";
import {
  buildRouteTable,
  findStaticRoute,
  parseRoutes,
  type RouteTable,
} from "../../../relay/dns/static_routes.ts";

function table(text: string): RouteTable {
  const result = parseRoutes(text);
  if (!result.ok) throw new Error(result.reason);
  return result.table;
}

Deno.test("parseRoutes() reads domain, suffix and smarthost entries", () => {
  const routes = table(
    " Example.COM=mx.internal:2525 , *.corp.test=10.0.0.5:25,*=[::1]:2526,bare.test=relay.test",
  );
  assert.deepEqual(routes.exact.get("example.com"), {
    pattern: "example.com",
    host: "mx.internal",
    port: 2525,
  });
  assert.deepEqual(routes.suffixes.get("corp.test"), {
    pattern: "*.corp.test",
    host: "10.0.0.5",
    port: 25,
  });
  assert.deepEqual(routes.fallback, { pattern: "*", host: "::1", port: 2526 });
  assert.deepEqual(routes.exact.get("bare.test"), {
    pattern: "bare.test",
    host: "relay.test",
    port: 25,
  });
});

Deno.test("parseRoutes() treats an absent or empty value as no routes", () => {
  for (const text of [undefined, "", " , "]) {
    const result = parseRoutes(text);
    assert.ok(result.ok);
    assert.equal(result.table.exact.size + result.table.suffixes.size, 0);
    assert.equal(result.table.fallback, undefined);
  }
});

Deno.test("parseRoutes() converts internationalised domains to A-labels", () => {
  assert.equal(
    table("bücher.example=mx.test:25").exact.get("xn--bcher-kva.example")?.host,
    "mx.test",
  );
});

Deno.test("parseRoutes() names the entry and the problem when an entry is invalid", () => {
  const cases: [string, RegExp][] = [
    ["example.com", /entry "example.com" as it must have the form domain=host:port: found no '='/],
    ["=host:25", /the domain "" must be a domain name, '\*.suffix' or '\*'/],
    ["exa mple.com=host:25", /the domain "exa mple.com" must be/],
    ["**.x=host:25", /the domain "\*\*.x" must be/],
    ["a.test=", /the host is missing after '='/],
    ["a.test=host:0", /the port must be 1-65535: found 0/],
    ["a.test=host:70000", /the port must be 1-65535: found 70000/],
    ["a.test=host:smtp", /the port must be a number: found "smtp"/],
    ["a.test=::1:25", /an IPv6 address must be written in brackets, as in \[::1\]:2525/],
    ["a.test=[::1:25", /has no closing '\]'/],
    ["a.test=[mx.test]:25", /"mx.test" inside \[\] must be an IPv6 address/],
    ["a.test=[::1]25", /only ':port' may follow/],
    ["a.test=bad_host:25", /the host "bad_host" must be a name or an IP address/],
    ["ok.test=h:25,ok.test=g:25", /entry "ok.test=g:25" as 'ok.test' is routed twice/],
    ["*=h:25,*=g:25", /'\*' is routed twice/],
  ];
  for (const [text, reason] of cases) {
    const result = parseRoutes(text);
    assert.equal(result.ok, false, text);
    assert.match(result.ok ? "" : result.reason, /^Cannot use FERRY_ROUTES entry /, text);
    assert.match(result.ok ? "" : result.reason, reason, text);
  }
});

Deno.test("findStaticRoute() prefers the exact domain, then the longest suffix, then '*'", () => {
  const routes = table(
    "mail.corp.test=exact:1,*.corp.test=corp:2,*.eu.corp.test=eu:3,*=smarthost:4",
  );
  const host = (domain: string) => findStaticRoute(routes, domain)?.host;
  assert.equal(host("mail.corp.test"), "exact");
  assert.equal(host("MAIL.corp.test."), "exact");
  assert.equal(host("x.corp.test"), "corp");
  assert.equal(host("a.b.corp.test"), "corp");
  assert.equal(host("x.eu.corp.test"), "eu");
  assert.equal(host("corp.test"), "smarthost"); // *.corp.test does not cover corp.test itself
  assert.equal(host("elsewhere.test"), "smarthost");
  assert.equal(findStaticRoute(table("*.corp.test=corp:2"), "elsewhere.test"), undefined);
});

Deno.test("buildRouteTable() takes routes parsed elsewhere and refuses a pattern given twice", () => {
  const built = buildRouteTable([
    { pattern: "Example.com", host: "mx.internal", port: 2525 },
    { pattern: "*", host: "::1", port: 25 },
  ]);
  assert.ok(built.ok);
  assert.equal(findStaticRoute(built.table, "example.com")?.host, "mx.internal");
  assert.equal(findStaticRoute(built.table, "other.test")?.host, "::1");
  const twice = buildRouteTable([
    { pattern: "*", host: "::1", port: 25 },
    { pattern: "*", host: "::2", port: 25 },
  ]);
  assert.deepEqual(twice, {
    ok: false,
    reason: `Cannot use FERRY_ROUTES entry "*=[::2]:25" as '*' is routed twice`,
  });
});
