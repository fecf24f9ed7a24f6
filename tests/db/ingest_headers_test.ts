import assert from "node:assert/strict";
import { ingestOutbox } from "../../db/ingest.ts";
import { composeMessage } from "../../relay/mime/compose.ts";
import { testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";

const now = new Date("2026-03-01T10:00:00Z");
const threading = {
  "Message-ID": "<order-7@shop.example>",
  "In-Reply-To": "<order-6@shop.example>",
  "References": "<order-5@shop.example> <order-6@shop.example>",
  "Reply-To": "Support <support@shop.example>",
  "List-Unsubscribe": "<https://shop.example/u/1>, <mailto:u@shop.example>",
  "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
};

Deno.test("ingestOutbox() and composeMessage() agree on which headers an application may set", async () => {
  await using t = await testDatabase();
  const ok = await insertOutbox(t.db, { headers: threading });
  const refused: [Record<string, string>, string | null, RegExp][] = [
    [{ Bcc: "spy@evil.test" }, null, /header Bcc cannot be set/],
    [{ "Message-ID": "no-brackets" }, null, /must look like <id@domain>/],
    [{ "Reply-To": "a@x.test" }, "b@x.test", /Reply-To cannot be set in headers when the reply_to/],
  ];
  const bad = [];
  for (const [headers, replyTo, reason] of refused) {
    bad.push([await insertOutbox(t.db, { headers, reply_to: replyTo }), reason] as const);
  }
  await ingestOutbox(t.db, { now });
  const status = async (id: number) =>
    await t.db.selectFrom("ferry.deliveries").select(["status", "last_reply"])
      .where("outbox_id", "=", id).executeTakeFirstOrThrow();
  assert.equal((await status(ok)).status, "queued", (await status(ok)).last_reply ?? "");
  for (const [id, reason] of bad) {
    const s = await status(id);
    assert.equal(s.status, "rejected");
    assert.match(s.last_reply ?? "", reason);
  }

  // What ingestion accepted, the composer writes as given.
  const composed = await composeMessage({
    id: ok,
    from: "shop@shop.example",
    to: ["ada@x.test"],
    subject: "s",
    text: "t",
    headers: threading,
  }, { messageIdDomain: "relay.test", clock: new FakeClock(now.getTime()) });
  assert.equal(composed.kind, "composed");
  if (composed.kind !== "composed") return;
  const head = new TextDecoder().decode(composed.message.bytes).split("\r\n\r\n")[0]!;
  assert.equal(composed.message.messageId, "<order-7@shop.example>");
  for (const [name, value] of Object.entries(threading)) {
    assert.ok(head.includes(`${name}: ${value.split(" ")[0]}`), `${name} in\n${head}`);
  }
  assert.equal(head.match(/^Message-ID:/gim)?.length, 1);
});

Deno.test("ingestOutbox() keeps TLS-Required: No, and rejects it with require_tls or another value", async () => {
  await using t = await testDatabase();
  const optional = await insertOutbox(t.db, { headers: { "TLS-Required": "No" } });
  const both = await insertOutbox(t.db, { headers: { "TLS-Required": "no" }, require_tls: true });
  const yes = await insertOutbox(t.db, { headers: { "TLS-Required": "Yes" } });
  const strict = await insertOutbox(t.db, { require_tls: true });
  await ingestOutbox(t.db, { now });
  const status = async (id: number) =>
    await t.db.selectFrom("ferry.deliveries").select(["status", "last_reply"])
      .where("outbox_id", "=", id).executeTakeFirstOrThrow();
  assert.equal((await status(optional)).status, "queued");
  assert.equal((await status(strict)).status, "queued");
  assert.deepEqual(await status(both), {
    status: "rejected",
    last_reply: "require_tls cannot be combined with the header TLS-Required: No, " +
      "which asks for the opposite (RFC 8689)",
  });
  assert.equal((await status(yes)).status, "rejected");
  assert.match((await status(yes)).last_reply ?? "", /only takes the value No.*set require_tls/);
});
