import assert from "node:assert/strict";
import { eventFromRow, type EventRow } from "../../../relay/webhooks/payload.ts";

function row(o: Partial<EventRow>): EventRow {
  return {
    id: 1,
    delivery_id: 7,
    outbox_id: 3,
    at: new Date(Date.UTC(2030, 0, 1)),
    kind: "bounced",
    recipient: "ada@x.test",
    domain: "x.test",
    attempts: 1,
    mx_host: "mx.x.test",
    code: null,
    enhanced: null,
    reply: null,
    tls: true,
    duration_ms: 12,
    bounce_class: null,
    metadata: null,
    ...o,
  };
}

Deno.test("eventFromRow() gives a bounced event its class, code, enhanced code and reply", () => {
  const e = eventFromRow(row({
    code: 550,
    enhanced: "5.1.1",
    reply: "550 5.1.1 User unknown",
    bounce_class: "invalid_recipient",
  }));
  assert.equal(e?.type, "bounced");
  assert.equal(e?.data.bounce_class, "invalid_recipient");
  assert.equal(e?.data.code, 550);
  assert.equal(e?.data.enhanced, "5.1.1");
  assert.equal(e?.data.reply, "550 5.1.1 User unknown");
});

Deno.test("eventFromRow() classifies a deferred event from its reply", () => {
  const e = eventFromRow(row({
    kind: "deferred",
    code: 452,
    enhanced: "4.2.2",
    reply: "452 4.2.2 Mailbox full",
  }));
  assert.equal(e?.data.bounce_class, "mailbox_full");
});

Deno.test("eventFromRow() classifies a bounced event without a recorded class from its reply", () => {
  const e = eventFromRow(row({ code: 550, enhanced: "5.7.1", reply: "550 5.7.1 Rejected" }));
  assert.equal(e?.data.bounce_class, "spam_or_policy");
});

Deno.test("eventFromRow() gives a complaint event its class", () => {
  assert.equal(eventFromRow(row({ kind: "complaint" }))?.data.bounce_class, "spam_or_policy");
});

Deno.test("eventFromRow() gives a delivered event no class", () => {
  const e = eventFromRow(row({ kind: "delivered", code: 250, reply: "250 ok" }));
  assert.equal(e?.data.bounce_class, null);
});
