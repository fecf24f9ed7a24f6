import assert from "node:assert/strict";
import { ingestOutbox } from "../../db/ingest.ts";
import { canonicalLineEnds } from "../../relay/mime/canonical_lines.ts";
import { rawMessageProblem } from "../../relay/mime/raw_cleanup.ts";
import { testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";

const now = new Date("2026-03-01T10:00:00Z");
const raw = (s: string) => ({
  subject: null,
  text_body: null,
  raw_message: new TextEncoder().encode(s),
});

Deno.test("ingestOutbox() rejects raw messages that cannot be sent as they are, with the reason", async () => {
  await using t = await testDatabase();
  const ok = await insertOutbox(t.db, raw("From: a@x.test\nTo: r@example.test\n\nhi\n"));
  const cases: [number, RegExp][] = [
    [
      await insertOutbox(t.db, raw(`From: a@x.test\n\n${"z".repeat(2000)}\n`)),
      /a line of 2000 octets/,
    ],
    [await insertOutbox(t.db, raw("To: r@example.test\n\nhi\n")), /no From header field/],
    [
      await insertOutbox(t.db, raw("From: a@x.test\nthis is no header\n\nhi\n")),
      /not a header field/,
    ],
  ];
  const r = await ingestOutbox(t.db, {
    now,
    checkRaw: (bytes) => rawMessageProblem(canonicalLineEnds(bytes)),
  });
  assert.equal(r.rows, 4);
  const status = async (id: number) =>
    await t.db.selectFrom("ferry.deliveries").select(["status", "last_reply"])
      .where("outbox_id", "=", id).executeTakeFirstOrThrow();
  assert.equal((await status(ok)).status, "queued");
  for (const [id, reason] of cases) {
    const d = await status(id);
    assert.equal(d.status, "rejected");
    assert.match(d.last_reply ?? "", reason);
  }
});
