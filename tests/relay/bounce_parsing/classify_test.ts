import assert from "node:assert/strict";
import { type BounceClass, classify } from "../../../relay/bounce_parsing/mod.ts";

type Row = [
  status: string | undefined,
  diagnostic: string,
  cls: BounceClass,
  hard: boolean,
  final: string,
];

const FAILED: Row[] = [
  ["5.1.1", "550 5.1.1 User unknown", "invalid_recipient", true, "5.1.1"],
  ["5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound", "invalid_recipient", true, "5.1.10"],
  ["5.1.10", "556 5.1.10 Recipient address has null MX", "dns", true, "5.1.10"],
  ["5.1.2", "Host or domain name not found", "dns", true, "5.1.2"],
  [
    "5.2.1",
    "The email account that you tried to reach is disabled",
    "invalid_recipient",
    true,
    "5.2.1",
  ],
  ["5.2.2", "552 5.2.2 Mailbox full", "mailbox_full", false, "5.2.2"],
  ["4.2.2", "452 4.2.2 Over quota", "mailbox_full", false, "4.2.2"],
  ["5.2.3", "552 5.2.3 Message exceeds maximum size", "message_too_large", true, "5.2.3"],
  ["5.3.4", "552 5.3.4 Message size exceeds fixed limit", "message_too_large", true, "5.3.4"],
  ["5.7.1", "554 5.7.1 Service unavailable; client host blocked", "spam_or_policy", true, "5.7.1"],
  [
    "5.7.26",
    "550 5.7.26 Unauthenticated email is not accepted (DMARC)",
    "spam_or_policy",
    true,
    "5.7.26",
  ],
  ["4.4.4", "Unable to route", "dns", false, "4.4.4"],
  ["4.4.1", "connect to mx.example.org: Connection timed out", "other", false, "4.4.1"],
  // Status says nothing specific: the code in the text, then the words, decide.
  [
    "5.0.0",
    "550 5.1.1 <a@example.org>: Recipient address rejected",
    "invalid_recipient",
    true,
    "5.1.1",
  ],
  [
    "5.0.0",
    "550 Requested action not taken: mailbox unavailable",
    "invalid_recipient",
    true,
    "5.0.0",
  ],
  [undefined, "552 Mailbox size limit exceeded", "mailbox_full", false, "5.0.0"],
  [undefined, "Unrouteable address", "dns", true, "5.0.0"],
  [undefined, "554 Message rejected: listed at bl.example", "spam_or_policy", true, "5.0.0"],
  [undefined, "message too large for this mailbox", "message_too_large", true, "5.0.0"],
  [undefined, "something odd happened", "other", true, "5.0.0"],
  // Exchange Online's 5.4.1 means "recipient not in the directory".
  [
    "5.4.1",
    "550 5.4.1 Recipient address rejected: Access denied",
    "invalid_recipient",
    true,
    "5.4.1",
  ],
  // Not mistaken for a status code: an IPv4 address, a version number.
  [undefined, "host 10.5.4.3 said: 451 try again (Exim 4.96.1)", "other", false, "4.0.0"],
];

Deno.test("classify() maps status codes first, then text, to class and hardness", () => {
  for (const [status, diagnostic, cls, hard, final] of FAILED) {
    const got = classify({ status, diagnostic, action: "failed" });
    assert.deepEqual(got, { class: cls, hard, status: final }, `${status} / ${diagnostic}`);
  }
});

Deno.test("classify() never calls a delayed recipient hard", () => {
  const got = classify({ status: "5.1.1", diagnostic: "", action: "delayed" });
  assert.equal(got.hard, false);
  assert.equal(classify({ diagnostic: "no code", action: "delayed" }).status, "4.0.0");
});
