/**
 * Attachments of the structured form: checked the same way by the API (400) and by ingestion
 * (`rejected`), composed into multipart/mixed (multipart/related for inline parts with a
 * content id) and decoded by the reader (mailparser) to exactly the bytes given.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { simpleParser } from "mailparser";
import { ingestOutbox } from "../../../db/ingest.ts";
import { composeMessage } from "../../../relay/mime/compose.ts";
import { parseAttachments } from "../../../lib/message/attachments.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { insertOutbox } from "../../_support/outbox.ts";
import { fixture } from "../admin/_helpers.ts";

const pdf = new Uint8Array(3000).map((_, i) => (i * 31) % 256);
const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const GOOD = [
  { filename: "invoice 7.pdf", content_type: "application/pdf", content: b64(pdf) },
  {
    filename: "logo.png",
    content_type: "image/png",
    content: b64(png),
    content_id: "logo@shop.example",
  },
];
const BAD: [unknown, RegExp][] = [
  [[{ content_type: "text/plain", content: "aGk=" }], /attachments\[0\]\.filename is required/],
  [[{ filename: "a.txt", content_type: "text/plain", content: "not base64!" }], /must be base64/],
  [[{ filename: "a.txt", content_type: "plain", content: "aGk=" }], /must be a MIME type/],
  [
    [{ filename: "x.svg", content_type: "image/svg+xml", content: "aGk=", content_id: "x@y" }],
    /image\/svg\+xml cannot be inline/,
  ],
  [[{ filename: "../etc/passwd", content_type: "text/plain", content: "aGk=" }], /plain file name/],
  [
    [{ filename: "a", content_type: "text/plain", content: "aGk=", colour: "red" }],
    /unknown field/,
  ],
];

Deno.test("parseAttachments() decodes good attachments and refuses bad ones with a reason", () => {
  const ok = parseAttachments(GOOD);
  assert.ok(ok.ok);
  if (ok.ok) {
    assert.equal(ok.octets, pdf.length + png.length);
    assert.deepEqual(ok.attachments[0]!.content, pdf);
    assert.equal(ok.attachments[1]!.contentId, "logo@shop.example");
  }
  for (const [value, reason] of BAD) {
    const r = parseAttachments(value);
    assert.equal(r.ok, false, JSON.stringify(value));
    if (!r.ok) assert.match(r.reason, reason);
  }
});

Deno.test("composeMessage() attaches files that decode to the same bytes, inline parts as related", async () => {
  const composed = await composeMessage({
    id: 7,
    from: "shop@shop.example",
    to: ["ada@x.test"],
    subject: "invoice",
    text: "see attached",
    html: '<p><img src="cid:logo@shop.example"> see attached</p>',
    attachments: GOOD,
  }, { messageIdDomain: "relay.test", clock: new FakeClock() });
  assert.equal(composed.kind, "composed");
  if (composed.kind !== "composed") return;
  const text = new TextDecoder().decode(composed.message.bytes);
  assert.match(text, /Content-Type: multipart\/mixed/);
  assert.match(text, /Content-Type: multipart\/related/);
  assert.ok(text.split("\r\n").every((l) => l.length <= 998));
  const parsed = await simpleParser(Buffer.from(composed.message.bytes));
  type Part = { filename?: string; content: Uint8Array; cid?: string };
  const parts = parsed.attachments as Part[];
  const byName = new Map(parts.map((a) => [a.filename, a]));
  assert.deepEqual(new Uint8Array(byName.get("invoice 7.pdf")!.content), pdf);
  assert.deepEqual(new Uint8Array(byName.get("logo.png")!.content), png);
  assert.equal(byName.get("logo.png")!.cid, "logo@shop.example");
  assert.equal(parsed.text?.trim(), "see attached");
});

Deno.test("POST /api/v1/messages takes attachments, and refuses bad ones with 400; ingestion agrees", async () => {
  await using f = await fixture();
  const mail = {
    from_address: "shop@shop.example",
    to_addresses: ["ada@example.test"],
    subject: "s",
    text_body: "t",
  };
  const created = await f.call("POST", "/api/v1/messages", { ...mail, attachments: GOOD });
  assert.equal(created.status, 201, await created.clone().text());
  for (const [attachments, reason] of BAD) {
    const res = await f.call("POST", "/api/v1/messages", { ...mail, attachments });
    assert.equal(res.status, 400, JSON.stringify(attachments));
    const body = await res.json();
    // The schema or the shared rules answer, naming the field either way.
    assert.ok(
      reason.test(body.error) || body.field?.startsWith("attachments"),
      JSON.stringify(body),
    );
  }
  // The same rules at ingestion, for rows an application inserts itself.
  const bad = [];
  for (const [attachments, reason] of BAD) {
    const id = await insertOutbox(f.db, {});
    await f.db.updateTable("ferry.outbox").set({ attachments: JSON.stringify(attachments) })
      .where("id", "=", id).execute();
    bad.push([id, reason] as const);
  }
  await ingestOutbox(f.db, { now: new Date() });
  for (const [id, reason] of bad) {
    const d = await f.db.selectFrom("ferry.deliveries").select(["status", "last_reply"])
      .where("outbox_id", "=", id).executeTakeFirstOrThrow();
    assert.equal(d.status, "rejected");
    assert.match(d.last_reply ?? "", reason);
  }
  const good = await f.db.selectFrom("ferry.deliveries").select("status")
    .where("outbox_id", "=", (await created.json()).id).executeTakeFirstOrThrow();
  assert.equal(good.status, "queued");
});
