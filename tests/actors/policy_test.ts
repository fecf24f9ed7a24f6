import assert from "node:assert/strict";
import { DEFAULT_RETRY_POLICY } from "../../actors/backoff.ts";
import {
  DEFAULT_POLICY,
  type DomainPolicy,
  findProvider,
  mergePolicy,
  policyLayers,
  type PolicyOverrides,
  PROVIDERS,
  resolvePolicy,
} from "../../actors/policy.ts";

Deno.test("resolvePolicy() gives an unknown domain the defaults", () => {
  const policy = resolvePolicy("example.net");
  assert.deepEqual(policy, DEFAULT_POLICY);
  assert.equal(policy.maxRecipientsPerTransaction, 100);
  assert.equal(policy.tls, "opportunistic");
  assert.deepEqual(policy.retry, DEFAULT_RETRY_POLICY);
});

Deno.test("resolvePolicy() applies a provider's built-in limits to its own domains", () => {
  for (const domain of ["gmail.com", "GoogleMail.com.", "hotmail.com", "aol.com", "me.com"]) {
    const policy = resolvePolicy(domain);
    assert.ok(policy.maxConnections < DEFAULT_POLICY.maxConnections, domain);
    assert.equal(policy.tls, "required", domain);
    assert.ok(policy.rates.length > 0, domain);
  }
  assert.equal(findProvider("web.de")?.name, "united-internet");
  assert.equal(findProvider("inbox.ru")?.name, "mail.ru");
  assert.equal(findProvider("ya.ru")?.name, "yandex");
});

Deno.test("resolvePolicy() recognises a provider-hosted domain by its MX hosts", () => {
  const cases: [string[], string][] = [
    [["aspmx.l.google.com", "alt1.aspmx.l.google.com"], "google"],
    [["example-com.mail.protection.outlook.com"], "microsoft"],
    [["example-com.c-v1.mx.microsoft"], "microsoft"],
    [["mta7.am0.yahoodns.net"], "yahoo"],
    [["mx01.mail.icloud.com"], "apple"],
    [["mx00.emig.gmx.net"], "united-internet"],
    [["mx.yandex.net"], "yandex"],
  ];
  for (const [mx, provider] of cases) {
    assert.equal(findProvider("corp.example", mx)?.name, provider, mx[0]);
    assert.deepEqual(
      resolvePolicy("corp.example", mx),
      resolvePolicy(PROVIDERS.find((p) => p.name === provider)!.domains[0]!),
    );
  }
  // A suffix must end at a label boundary: "notgoogle.com" is not Google.
  assert.equal(findProvider("corp.example", ["mx.notgoogle.com"]), undefined);
  // The domain itself wins over its MX hosts.
  assert.equal(findProvider("gmail.com", ["mx01.mail.icloud.com"])?.name, "google");
});

Deno.test("resolvePolicy() stacks overrides: * < shorter suffix < longer suffix < exact", () => {
  const overrides: PolicyOverrides = {
    "*": { maxConnections: 20, messagesPerConnection: 10, idleTimeoutMs: 1, tls: "verified" },
    "*.example": { messagesPerConnection: 20, idleTimeoutMs: 2 },
    "*.corp.example": { idleTimeoutMs: 3, mxRollup: false },
    "mail.corp.example": { tls: "disabled" },
  };
  assert.deepEqual(resolvePolicy("mail.corp.example", [], overrides), {
    ...DEFAULT_POLICY,
    maxConnections: 20,
    messagesPerConnection: 20,
    idleTimeoutMs: 3,
    tls: "disabled",
    mxRollup: false,
  });
  assert.deepEqual(
    policyLayers("mail.corp.example", [], overrides).map((l) => l.name),
    [
      "default",
      "override:*",
      "override:*.example",
      "override:*.corp.example",
      "override:mail.corp.example",
    ],
  );
});

Deno.test("resolvePolicy() matches *.suffix below the suffix only, and against MX hosts", () => {
  const overrides: PolicyOverrides = { "*.example.org": { maxConnections: 2 } };
  assert.equal(resolvePolicy("example.org", [], overrides).maxConnections, 10);
  assert.equal(resolvePolicy("a.example.org", [], overrides).maxConnections, 2);
  assert.equal(resolvePolicy("corp.test", ["mx1.example.org"], overrides).maxConnections, 2);
});

Deno.test("resolvePolicy() lets operator overrides beat the provider built-ins", () => {
  const overrides: PolicyOverrides = {
    "*": { tls: "opportunistic" },
    "*.google.com": { maxConnections: 8 },
    "gmail.com": { rates: [{ count: 200, perMs: 1000 }] },
  };
  const gmail = resolvePolicy("gmail.com", ["gmail-smtp-in.l.google.com"], overrides);
  assert.equal(gmail.maxConnections, 8);
  assert.equal(gmail.tls, "opportunistic", "even '*' overrides a built-in");
  assert.deepEqual(gmail.rates, [{ count: 200, perMs: 1000 }], "rates replace, not append");
  assert.equal(gmail.messagesPerConnection, 50, "untouched built-in field stays");
  assert.deepEqual(
    policyLayers("gmail.com", ["gmail-smtp-in.l.google.com"], overrides).map((l) => l.name),
    ["default", "provider:google", "override:*", "override:*.google.com", "override:gmail.com"],
  );
});

Deno.test("resolvePolicy() merges the retry policy field by field", () => {
  const overrides: PolicyOverrides = {
    "*": { retry: { max: 2 * 3_600_000 } },
    "slow.example": { retry: { first: 600_000, jitter: undefined } },
  };
  assert.deepEqual(resolvePolicy("slow.example", [], overrides).retry, {
    ...DEFAULT_RETRY_POLICY,
    first: 600_000,
    max: 2 * 3_600_000,
  });
});

Deno.test("resolvePolicy() keeps initialConnections within a lowered maxConnections", () => {
  const policy = resolvePolicy("tiny.example", [], { "tiny.example": { maxConnections: 1 } });
  assert.equal(policy.maxConnections, 1);
  assert.equal(policy.initialConnections, 1);
});

Deno.test("resolvePolicy() ignores undefined override fields and inherited object keys", () => {
  const policy = resolvePolicy("x.example", [], { "x.example": { maxConnections: undefined } });
  assert.equal(policy.maxConnections, DEFAULT_POLICY.maxConnections);
  for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
    assert.deepEqual(resolvePolicy(name), DEFAULT_POLICY, name);
  }
});

Deno.test("resolvePolicy() leaves the defaults and built-ins untouched", () => {
  const before = JSON.stringify({ DEFAULT_POLICY, PROVIDERS });
  resolvePolicy("gmail.com", [], { "*": { retry: { first: 1 } }, "gmail.com": { rates: [] } });
  assert.equal(JSON.stringify({ DEFAULT_POLICY, PROVIDERS }), before);
});

Deno.test("mergePolicy() of an empty override is the base", () => {
  assert.deepEqual(mergePolicy(DEFAULT_POLICY, {}), DEFAULT_POLICY);
});

Deno.test("PROVIDERS are conservative and internally consistent", () => {
  const domains = new Set<string>();
  for (const p of PROVIDERS) {
    const policy: DomainPolicy = resolvePolicy(p.domains[0]!);
    assert.ok(policy.initialConnections <= policy.maxConnections, p.name);
    assert.ok(policy.maxConnections <= 5, `${p.name}: at most 5 connections`);
    assert.ok(policy.rates.every((r) => r.count / r.perMs <= 0.02), `${p.name}: at most 20/s`);
    assert.ok(policy.connectionRate !== null, p.name);
    for (const d of p.domains) {
      assert.ok(!domains.has(d), `${d} listed once`);
      domains.add(d);
      assert.equal(findProvider(d)?.name, p.name);
    }
  }
});
