import assert from "node:assert/strict";
import {
  type MtaStsDecision,
  screenMxHosts,
  type StoredPolicy,
} from "../../../relay/mta_sts/mod.ts";

const HOSTS = [
  { name: "mx1.example.com", preference: 10 },
  { name: "mx.attacker.test", preference: 5 },
  { name: "b1.example.net", preference: 20 },
];
const name = (h: { name: string }) => h.name;
const policy: StoredPolicy = {
  domain: "example.com",
  id: "1",
  mode: "enforce",
  mx: ["mx1.example.com", "*.example.net"],
  maxAge: 86_400,
  fetchedAt: 0,
  expiresAt: 86_400_000,
  lastError: null,
};

Deno.test("screenMxHosts() under enforce keeps listed hosts, in order, over verified TLS", () => {
  const decision: MtaStsDecision = {
    mode: "enforce",
    domain: "example.com",
    policy,
    source: "cache",
  };
  const screen = screenMxHosts(decision, HOSTS, name);
  assert.deepEqual(screen.hosts.map(name), ["mx1.example.com", "b1.example.net"]);
  assert.deepEqual(screen.unlisted.map(name), ["mx.attacker.test"]);
  assert.equal(screen.tls, "verified");
  assert.deepEqual(screenMxHosts(decision, [HOSTS[1]!], name).hosts, []);
});

Deno.test("screenMxHosts() under testing keeps every host and reports the unlisted", () => {
  const decision: MtaStsDecision = {
    mode: "testing",
    domain: "example.com",
    policy: { ...policy, mode: "testing" },
    source: "fetched",
  };
  const screen = screenMxHosts(decision, HOSTS, name);
  assert.deepEqual(screen.hosts, HOSTS);
  assert.deepEqual(screen.unlisted.map(name), ["mx.attacker.test"]);
  assert.equal(screen.tls, "report");
});

Deno.test("screenMxHosts() without a policy leaves hosts and TLS to the relay", () => {
  const screen = screenMxHosts(
    { mode: "none", domain: "example.com", reason: "no-record" },
    HOSTS,
    name,
  );
  assert.deepEqual(screen, { hosts: HOSTS, unlisted: [], tls: "own" });
});
