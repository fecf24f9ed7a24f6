import assert from "node:assert/strict";
import type { Bounce } from "../../../relay/bounce_parsing/mod.ts";
import {
  actionFor,
  isMessageIdOf,
  lookupKeys,
  matchDelivery,
  parseFerryMessageId,
  replyOf,
  reportKind,
} from "../../../relay/bounce_processing/plan.ts";
import { messageIdFor } from "../../../relay/mime/message_id.ts";

const CREATED = Date.UTC(2030, 0, 1);
const OUTBOX = {
  outboxId: 42,
  createdAt: new Date(CREATED),
  deliveries: [
    { id: 7, outboxId: 42, recipient: "ada@example.org", status: "delivered" },
    { id: 8, outboxId: 42, recipient: "bob@example.org", status: "delivered" },
  ],
};
const MID = messageIdFor(42, CREATED, "Relay.Test");

function bounce(extra: Partial<Bounce> = {}): Bounce {
  return {
    kind: "bounce",
    status: "5.1.1",
    diagnostic: "User unknown",
    action: "failed",
    class: "invalid_recipient",
    hard: true,
    ...extra,
  };
}

Deno.test("parseFerryMessageId() takes apart only Ferry's own format", () => {
  assert.deepEqual(parseFerryMessageId(MID), { outboxId: 42, domain: "relay.test" });
  assert.equal(parseFerryMessageId("<ferry.42.7f3a@mail.ferry.test>"), undefined);
  assert.equal(parseFerryMessageId("<CAF=abc@mail.gmail.com>"), undefined);
});

Deno.test("isMessageIdOf() verifies the hash against the row's creation time", () => {
  assert.ok(isMessageIdOf(MID, OUTBOX));
  assert.ok(isMessageIdOf(MID.toUpperCase().replace("<FERRY", "<ferry"), OUTBOX), "any case");
  assert.ok(!isMessageIdOf(MID, { ...OUTBOX, createdAt: new Date(CREATED + 1) }));
  assert.ok(!isMessageIdOf(MID, { ...OUTBOX, outboxId: 43 }));
});

Deno.test("lookupKeys() collects VERP ids and outbox ids, skipping what cannot be ours", () => {
  const keys = lookupKeys({
    outcomes: [
      bounce({ verpId: "7", originalMessageId: MID }),
      bounce({ verpId: "x1", originalMessageId: "<a@b>" }),
      { kind: "unrecognised", reason: "auto-reply", verpId: "9" },
    ],
    subject: "",
    from: "",
  });
  assert.deepEqual(keys, { deliveryIds: [7], outboxIds: [42] });
});

Deno.test("matchDelivery() prefers VERP, then Message-ID with the recipient or the only one", () => {
  const deliveries = new Map(OUTBOX.deliveries.map((d) => [d.id, d]));
  const candidates = { deliveries, outboxes: new Map([[42, OUTBOX]]) };
  assert.equal(
    matchDelivery(bounce({ verpId: "8", recipient: "ada@example.org" }), candidates)?.id,
    8,
  );
  assert.equal(
    matchDelivery(bounce({ originalMessageId: MID, recipient: "<BOB@example.org>" }), candidates)
      ?.id,
    8,
  );
  assert.equal(
    matchDelivery(
      bounce({
        originalMessageId: MID,
        recipient: "alias@x",
        originalEnvelopeTo: "ada@example.org",
      }),
      candidates,
    )?.id,
    7,
  );
  assert.equal(matchDelivery(bounce({ originalMessageId: MID }), candidates), undefined, "which?");
  const single = { ...OUTBOX, deliveries: OUTBOX.deliveries.slice(0, 1) };
  assert.equal(
    matchDelivery(bounce({ originalMessageId: MID }), {
      deliveries,
      outboxes: new Map([[42, single]]),
    })?.id,
    7,
  );
});

Deno.test("replyOf() keeps the server's words and adds what last_reply always has", () => {
  assert.deepEqual(replyOf(bounce({ diagnostic: "550 5.1.1 <a@b>: User unknown" })), {
    code: 550,
    reply: "550 5.1.1 <a@b>: User unknown",
  });
  assert.deepEqual(replyOf(bounce({ diagnostic: "554 delivery error: dd This user doesn't" })), {
    code: 554,
    reply: "554 5.1.1 delivery error: dd This user doesn't",
  });
  assert.deepEqual(replyOf(bounce({ status: "5.2.2", diagnostic: "mailbox is full" })), {
    code: 550,
    reply: "550 5.2.2 mailbox is full",
  });
  assert.deepEqual(replyOf(bounce({ status: "4.4.1", diagnostic: "timed out" })), {
    code: 450,
    reply: "450 4.4.1 timed out",
  });
});

Deno.test("actionFor() bounces, suppresses and records by kind", () => {
  const policy = { hardBounceMs: 1000, complaintMs: null };
  const d = OUTBOX.deliveries[0]!;
  const hard = actionFor(bounce(), d, CREATED, policy);
  assert.equal(hard.event, "bounced");
  assert.equal(hard.bounceClass, "invalid_recipient");
  assert.deepEqual(hard.suppress?.until, new Date(CREATED + 1000));
  const policyBlock = actionFor(bounce({ class: "spam_or_policy" }), d, CREATED, policy);
  assert.equal(policyBlock.bounceClass, "spam_or_policy");
  assert.equal(policyBlock.suppress, undefined);
  // Final for the message, not a reason to give up on the address.
  const soft = actionFor(bounce({ hard: false, class: "mailbox_full" }), d, CREATED, policy);
  assert.equal(soft.event, "bounced");
  assert.equal(soft.bounceClass, "mailbox_full");
  assert.equal(soft.suppress, undefined);
  const delayed = actionFor(bounce({ hard: false, action: "delayed" }), d, CREATED, policy);
  assert.equal(delayed.event, "bounce_delayed");
  assert.equal(delayed.bounceClass, undefined);
  const complaint = actionFor({ kind: "complaint", feedbackType: "abuse" }, d, CREATED, policy);
  assert.equal(complaint.event, "complaint");
  assert.equal(complaint.suppress?.until, null);
});

Deno.test("reportKind() names a report by its most telling outcome", () => {
  const of = (...outcomes: Parameters<typeof reportKind>[0]["outcomes"]) =>
    reportKind({ outcomes, subject: "", from: "" });
  assert.equal(of(bounce({ action: "delayed" })), "delay");
  assert.equal(of(bounce({ action: "delayed" }), bounce()), "bounce");
  assert.equal(of({ kind: "complaint", feedbackType: "abuse" }), "complaint");
  assert.equal(of({ kind: "unrecognised", reason: "?" }), "unrecognised");
});
