/**
 * SmtpDeliverer's session against npm smtp-server: one transaction per message by default, one
 * per envelope sender when `envelopeSender` is given (VERP), results in the callers' order.
 */
import assert from "node:assert/strict";
import type { Delivery } from "../../../actors/ports.ts";
import { SmtpDeliverer } from "../../../relay/adapters/smtp_deliverer.ts";
import { MessageSource } from "../../../relay/adapters/message_source.ts";
import { buildRouteTable, createRouter } from "../../../relay/dns/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import { smtpError, startSmtpServer } from "../smtp/_smtp_server.ts";

function delivery(id: number, recipient: string): Delivery {
  return {
    id,
    outboxId: 1,
    recipient,
    domain: "x.test",
    priority: 1,
    attempts: 0,
    expiresAt: Date.UTC(2030, 0, 2),
    smtputf8: false,
    leaseToken: 1,
    leaseExpiresAt: Date.UTC(2030, 0, 2),
  };
}

function deliverer(port: number, envelopeSender?: (d: Delivery) => string): SmtpDeliverer {
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const routes = buildRouteTable([{ pattern: "*", host: "127.0.0.1", port }]);
  if (!routes.ok) throw new Error(routes.reason);
  return new SmtpDeliverer({
    clock,
    router: createRouter({ resolver: new FakeResolver(), random: () => 0.5, routes: routes.table }),
    messages: new MessageSource({
      load: (id) =>
        Promise.resolve({
          id,
          fromAddress: "Shop <shop@ferry.test>",
          to: ["ada@x.test", "nobody@x.test", "bob@x.test"],
          cc: [],
          bcc: [],
          replyTo: null,
          subject: "hello",
          text: "body",
          html: null,
          headers: null,
          raw: null,
          createdAt: new Date(Date.UTC(2030, 0, 1)),
          metadata: null,
        }),
      clock,
      messageIdDomain: "relay.test",
    }),
    heloName: "relay.test",
    tlsPolicy: () => "opportunistic",
    ...(envelopeSender ? { envelopeSender } : {}),
  });
}

const RECIPIENTS = [
  delivery(11, "ada@x.test"),
  delivery(12, "nobody@x.test"),
  delivery(13, "bob@x.test"),
];

async function sendAll(d: SmtpDeliverer) {
  const connected = await d.connect("x.test", new AbortController().signal);
  assert.equal(connected.kind, "connected");
  if (connected.kind !== "connected") throw new Error("unreachable");
  try {
    return await connected.session.send(1, RECIPIENTS, new AbortController().signal);
  } finally {
    await connected.session.close();
  }
}

function server() {
  return startSmtpServer({
    onRcptTo(a, _s, cb) {
      if (a.address.startsWith("nobody@")) return cb(smtpError(550, "5.1.1 User unknown"));
      cb();
    },
  });
}

Deno.test("SmtpDeliverer session.send() sends one transaction per message from the From address", async () => {
  await using s = await server();
  const results = await sendAll(deliverer(s.port));
  assert.deepEqual(results.map((r) => r.kind), ["delivered", "permanent", "delivered"]);
  assert.deepEqual(s.messages.map((m) => [m.mailFrom, m.recipients]), [
    ["shop@ferry.test", ["ada@x.test", "bob@x.test"]],
  ]);
});

Deno.test("SmtpDeliverer session.send() sends one transaction per envelope sender with envelopeSender", async () => {
  await using s = await server();
  const results = await sendAll(deliverer(s.port, (d) => `bounces+${d.id}@bounce.test`));
  assert.deepEqual(results.map((r) => r.kind), ["delivered", "permanent", "delivered"]);
  assert.deepEqual(s.messages.map((m) => [m.mailFrom, m.recipients]), [
    ["bounces+11@bounce.test", ["ada@x.test"]],
    ["bounces+13@bounce.test", ["bob@x.test"]],
  ]);
  assert.deepEqual(s.messages[0]!.content, s.messages[1]!.content, "the same signed bytes");
});

Deno.test("SmtpDeliverer session.send() groups recipients that share an envelope sender", async () => {
  await using s = await server();
  const results = await sendAll(deliverer(s.port, (d) => (d.id === 12 ? "a@b.test" : "c@d.test")));
  assert.deepEqual(results.map((r) => r.kind), ["delivered", "permanent", "delivered"]);
  assert.deepEqual(s.messages.map((m) => [m.mailFrom, m.recipients]), [
    ["c@d.test", ["ada@x.test", "bob@x.test"]],
  ]);
});

Deno.test("SmtpDeliverer session.send() sends recipients refused with 452 in a following transaction", async () => {
  await using s = await startSmtpServer({
    // At most two recipients per transaction, as a receiver with a low limit would.
    onRcptTo(_a, session, cb) {
      if (session.envelope.rcptTo.length >= 2) {
        return cb(smtpError(452, "4.5.3 Too many recipients"));
      }
      cb();
    },
  });
  const five = [11, 12, 13, 14, 15].map((id) => delivery(id, `r${id}@x.test`));
  const d = deliverer(s.port);
  const connected = await d.connect("x.test", new AbortController().signal);
  if (connected.kind !== "connected") throw new Error("not connected");
  try {
    const results = await connected.session.send(1, five, new AbortController().signal);
    assert.deepEqual(results.map((r) => r.kind), Array(5).fill("delivered"));
  } finally {
    await connected.session.close();
  }
  assert.deepEqual(s.messages.map((m) => m.recipients), [
    ["r11@x.test", "r12@x.test"],
    ["r13@x.test", "r14@x.test"],
    ["r15@x.test"],
  ]);
});
