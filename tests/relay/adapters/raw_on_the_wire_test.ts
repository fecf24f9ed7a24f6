/**
 * A raw message as the receiver gets it: no Bcc or Resent-Bcc, Date and Message-ID added exactly
 * once when missing (the same Message-ID on a retry), kept when present. Through the real path:
 * MessageSource → SmtpDeliverer → npm smtp-server on loopback.
 */
import assert from "node:assert/strict";
import type { Delivery } from "../../../actors/ports.ts";
import { buildRouteTable, createRouter } from "../../../relay/dns/mod.ts";
import { MessageSource } from "../../../relay/adapters/message_source.ts";
import { SmtpDeliverer } from "../../../relay/adapters/smtp_deliverer.ts";
import type { MessageRow } from "../../../db/messages.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import { startSmtpServer } from "../smtp/_smtp_server.ts";

const NOW = Date.UTC(2030, 0, 1, 9);

function row(id: number, raw: string): MessageRow {
  return {
    id,
    fromAddress: "a@shop.example",
    to: ["ada@x.test"],
    cc: [],
    bcc: ["hidden@x.test"],
    replyTo: null,
    subject: null,
    text: null,
    html: null,
    headers: null,
    raw: new TextEncoder().encode(raw),
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

async function send(port: number, rows: MessageRow[], ids: number[]): Promise<void> {
  const clock = new FakeClock(NOW);
  const routes = buildRouteTable([{ pattern: "*", host: "127.0.0.1", port }]);
  if (!routes.ok) throw new Error(routes.reason);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const deliverer = new SmtpDeliverer({
    clock,
    router: createRouter({ resolver: new FakeResolver(), random: () => 0.5, routes: routes.table }),
    // A new source each time: a retry after a restart composes the message again.
    messages: new MessageSource({
      load: (id) => Promise.resolve(byId.get(id)),
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
    for (const id of ids) {
      const r = await c.session.send(id, [delivery(id)], signal);
      assert.deepEqual(r.map((x) => x.kind), ["delivered"], JSON.stringify(r));
    }
  } finally {
    await c.session.close();
  }
}

const head = (content: Uint8Array) => new TextDecoder().decode(content).split("\r\n\r\n")[0]!;
const fields = (h: string, name: string) =>
  h.split("\r\n").filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));

Deno.test("SmtpDeliverer sends a raw message without Bcc, with one Date and one stable Message-ID", async () => {
  await using server = await startSmtpServer();
  const rows = [
    row(
      1,
      "From: a@shop.example\nTo: ada@x.test\nBcc: hidden@x.test,\n more@x.test\n" +
        "Resent-Bcc: r@x.test\nSubject: no date, no id\n\nBcc: body text is not a header\n",
    ),
    row(
      2,
      "From: a@shop.example\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\n" +
        "Message-ID: <own.2@shop.example>\r\nSubject: both present\r\n\r\nhi\r\n",
    ),
  ];
  await send(server.port, rows, [1, 2]);
  await send(server.port, rows, [1]); // a retry
  const [first, second, retry] = server.messages.map((m) => head(m.content));
  for (const h of [first!, retry!]) {
    assert.deepEqual(fields(h, "bcc"), []);
    assert.deepEqual(fields(h, "resent-bcc"), []);
    assert.ok(!h.includes("more@x.test"), "no folded Bcc line left behind");
    assert.deepEqual(fields(h, "date"), ["Date: Tue, 01 Jan 2030 09:00:00 +0000"]);
    assert.equal(fields(h, "message-id").length, 1);
  }
  assert.deepEqual(fields(first!, "message-id"), fields(retry!, "message-id"), "stable on a retry");
  assert.match(
    fields(first!, "message-id")[0]!,
    /^Message-ID: <ferry\.1\.[0-9a-f]{16}@relay\.test>$/,
  );
  assert.ok(
    new TextDecoder().decode(server.messages[0]!.content).includes("\r\n\r\nBcc: body text"),
  );
  assert.deepEqual(fields(second!, "message-id"), ["Message-ID: <own.2@shop.example>"]);
  assert.deepEqual(fields(second!, "date"), ["Date: Mon, 01 Jan 2024 00:00:00 +0000"]);
});
