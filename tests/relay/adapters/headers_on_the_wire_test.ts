/**
 * Subjects as the receiver reads them: 1,200 characters of words, one unbroken 1,200-character
 * word, text that looks like an encoded word, UTF-8: delivered with no line over 998 octets (and
 * header lines within 78 where the text allows) and decoding (mailparser) to exactly the original.
 * Through the real path: MessageSource → SmtpDeliverer → npm smtp-server on loopback.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { simpleParser } from "mailparser";
import type { Delivery } from "../../../actors/ports.ts";
import { buildRouteTable, createRouter } from "../../../relay/dns/mod.ts";
import { MessageSource } from "../../../relay/adapters/message_source.ts";
import { SmtpDeliverer } from "../../../relay/adapters/smtp_deliverer.ts";
import type { MessageRow } from "../../../db/messages.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import { startSmtpServer } from "../smtp/_smtp_server.ts";

const NOW = Date.UTC(2030, 0, 1, 9);
const SUBJECTS = [
  "word ".repeat(240).trim(),
  "x".repeat(1200),
  "=?utf-8?q?hello?=",
  "Re: =?ISO-8859-1?Q?a?= and more",
  `Grüße ${"ü".repeat(700)}`,
  "plain short subject",
];

function row(id: number, subject: string): MessageRow {
  return {
    id,
    fromAddress: "Shop <a@shop.example>",
    to: ["ada@x.test"],
    cc: [],
    bcc: [],
    replyTo: null,
    subject,
    text: "body",
    html: null,
    headers: null,
    raw: null,
    createdAt: new Date(NOW),
    metadata: null,
  };
}

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

Deno.test("SmtpDeliverer delivers long and tricky subjects folded, decoding to the original", async () => {
  await using server = await startSmtpServer();
  const clock = new FakeClock(NOW);
  const routes = buildRouteTable([{ pattern: "*", host: "127.0.0.1", port: server.port }]);
  if (!routes.ok) throw new Error(routes.reason);
  const rows = new Map(SUBJECTS.map((s, i) => [i + 1, row(i + 1, s)]));
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
    for (const id of rows.keys()) {
      const r = await c.session.send(id, [delivery(id)], signal);
      assert.deepEqual(r.map((x) => x.kind), ["delivered"], JSON.stringify(r));
    }
  } finally {
    await c.session.close();
  }
  assert.equal(server.messages.length, SUBJECTS.length);
  for (const [i, m] of server.messages.entries()) {
    const text = new TextDecoder().decode(m.content);
    const head = text.split("\r\n\r\n")[0]!;
    const longest = Math.max(...text.split("\r\n").map((l) => l.length));
    assert.ok(longest <= 998, `message ${i}: a line of ${longest}`);
    assert.ok(
      head.split("\r\n").every((l) => l.length <= 78),
      `message ${i}: a header line over 78:\n${head}`,
    );
    const parsed = await simpleParser(Buffer.from(m.content));
    assert.equal(parsed.subject, SUBJECTS[i], `message ${i} decodes to its subject`);
  }
});
