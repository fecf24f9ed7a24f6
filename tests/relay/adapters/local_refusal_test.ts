/**
 * A refusal Ferry makes itself (a message it cannot send, one larger than the receiver's SIZE)
 * is recorded as Ferry's: marked local, its reply saying so, and no MX host, so nobody reads it
 * as the receiver's answer.
 */
import assert from "node:assert/strict";
import type { Delivery } from "../../../actors/ports.ts";
import { classifyOutcome } from "../../../actors/classify_outcome.ts";
import { buildRouteTable, createRouter } from "../../../relay/dns/mod.ts";
import { MessageSource } from "../../../relay/adapters/message_source.ts";
import { LOCAL_REFUSAL, SmtpDeliverer } from "../../../relay/adapters/smtp_deliverer.ts";
import type { MessageRow } from "../../../db/messages.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import { startSmtpServer } from "../smtp/_smtp_server.ts";

const NOW = Date.UTC(2030, 0, 1, 9);
const base: MessageRow = {
  id: 1,
  fromAddress: "a@shop.example",
  to: ["ada@x.test"],
  cc: [],
  bcc: [],
  replyTo: null,
  subject: "s",
  text: "body",
  html: null,
  headers: null,
  raw: null,
  createdAt: new Date(NOW),
  metadata: null,
};

function delivery(outboxId: number): Delivery {
  return {
    id: outboxId,
    outboxId,
    recipient: "ada@x.test",
    domain: "x.test",
    priority: 1,
    attempts: 0,
    expiresAt: NOW + 86_400_000,
    smtputf8: false,
    leaseToken: 1,
    leaseExpiresAt: NOW + 86_400_000,
  };
}

Deno.test("SmtpDeliverer marks Ferry's own refusals local, and they are recorded without an MX host", async () => {
  await using server = await startSmtpServer({ size: 2000 });
  const clock = new FakeClock(NOW);
  const routes = buildRouteTable([{ pattern: "*", host: "127.0.0.1", port: server.port }]);
  if (!routes.ok) throw new Error(routes.reason);
  const rows = new Map<number, MessageRow>([
    [1, {
      ...base,
      id: 1,
      subject: null,
      text: null,
      raw: new TextEncoder().encode("To: a@x.test\n\nno from\n"),
    }],
    [2, { ...base, id: 2, text: "y".repeat(5000) }],
  ]);
  const deliverer = new SmtpDeliverer({
    clock,
    router: createRouter({ resolver: new FakeResolver(), random: () => 0.5, routes: routes.table }),
    messages: new MessageSource({
      load: (id) => Promise.resolve(rows.get(id)),
      clock,
      messageIdDomain: "relay.test",
    }),
    heloName: "relay.test",
    tlsPolicy: () => "opportunistic",
  });
  const signal = new AbortController().signal;
  const c = await deliverer.connect("x.test", signal);
  assert.equal(c.kind, "connected");
  if (c.kind !== "connected") return;
  try {
    for (const id of [1, 2]) {
      const [r] = await c.session.send(id, [delivery(id)], signal);
      assert.equal(r!.kind, "permanent", JSON.stringify(r));
      if (r!.kind !== "permanent") continue;
      assert.equal(r!.local, true, JSON.stringify(r));
      assert.ok(r!.reply.includes(LOCAL_REFUSAL), r!.reply);
      const recorded = classifyOutcome(delivery(id), r!, {
        now: NOW,
        mxHost: c.session.mxHost,
        planRetry: () => ({ kind: "give-up" }) as never,
      });
      assert.equal(recorded.status, "bounced");
      assert.equal(recorded.mxHost, undefined, "no receiving host said this");
    }
  } finally {
    await c.session.close();
  }
  assert.equal(server.messages.length, 0);
});
