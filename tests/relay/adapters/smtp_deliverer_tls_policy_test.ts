/**
 * SmtpDeliverer asks for the TLS policy with the MX hosts it is about to use, so a company
 * domain whose MX is Google's gets Google's required TLS (actors/policy.ts PROVIDERS).
 */
import assert from "node:assert/strict";
import { resolvePolicy } from "../../../actors/policy.ts";
import { SmtpDeliverer } from "../../../relay/adapters/smtp_deliverer.ts";
import { MessageSource } from "../../../relay/adapters/message_source.ts";
import { createRouter } from "../../../relay/dns/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import { startSmtpServer } from "../smtp/_smtp_server.ts";

function deliverer(port: number, mxHost: string, asked: string[][]): SmtpDeliverer {
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const resolver = new FakeResolver({
    "corp.test": { mx: [{ preference: 10, exchange: mxHost }] },
    [mxHost]: { a: ["127.0.0.1"] },
  });
  return new SmtpDeliverer({
    clock,
    router: createRouter({ resolver, random: () => 0.5, port, addressOrder: "ipv4-only" }),
    messages: new MessageSource({
      load: () => Promise.reject(new Error("no message is sent by these tests")),
      clock,
      messageIdDomain: "relay.test",
    }),
    heloName: "relay.test",
    tlsPolicy: (domain, mxHosts) => {
      asked.push([domain, ...mxHosts]);
      return resolvePolicy(domain, mxHosts).tls;
    },
  });
}

// A peer that never offers STARTTLS: only a policy that requires TLS refuses it.
const plaintextPeer = () => startSmtpServer({ hideSTARTTLS: true });

Deno.test("SmtpDeliverer connect() applies Gmail's required TLS to a domain whose MX is aspmx.l.google.com", async () => {
  await using s = await plaintextPeer();
  const asked: string[][] = [];
  const r = await deliverer(s.port, "aspmx.l.google.com", asked)
    .connect("corp.test", new AbortController().signal);
  assert.deepEqual(asked, [["corp.test", "aspmx.l.google.com"]]);
  assert.equal(r.kind, "failed");
  if (r.kind !== "failed") throw new Error("unreachable");
  assert.equal(r.result.kind, "transient", "deferred, not sent in plaintext");
});

Deno.test("SmtpDeliverer connect() stays opportunistic for a domain whose MX belongs to no provider", async () => {
  await using s = await plaintextPeer();
  const asked: string[][] = [];
  const r = await deliverer(s.port, "mx.corp.test", asked)
    .connect("corp.test", new AbortController().signal);
  assert.deepEqual(asked, [["corp.test", "mx.corp.test"]]);
  assert.equal(r.kind, "connected");
  if (r.kind === "connected") await r.session.close();
});
