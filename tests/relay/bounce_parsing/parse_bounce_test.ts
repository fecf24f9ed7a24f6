import assert from "node:assert/strict";
import { encodeVerp, parseBounce } from "../../../relay/bounce_parsing/mod.ts";
import { checkOutcome, EXPECTED, readSample, SAMPLE_VERP, sampleNames } from "./_samples.ts";

Deno.test("parseBounce() parses, matches and classifies every sample", async () => {
  const names = sampleNames();
  assert.deepEqual(names, Object.keys(EXPECTED).sort(), "every sample has an expectation");
  for (const name of names) {
    const report = await parseBounce(readSample(name), { verp: SAMPLE_VERP });
    assert.equal(report.outcomes.length, 1, name);
    checkOutcome(name, report.outcomes[0], EXPECTED[name]!);
  }
});

Deno.test("parseBounce() keeps the diagnostic readable: Gmail's continuation codes removed", async () => {
  const report = await parseBounce(readSample("gmail_no_such_user.eml"), { verp: SAMPLE_VERP });
  const bounce = report.outcomes[0];
  assert.equal(bounce.kind, "bounce");
  assert.match(
    bounce.kind === "bounce" ? bounce.diagnostic : "",
    /^550 5\.1\.1 The email account that you tried to reach does not exist\. Please try double-checking/,
  );
  assert.equal(report.subject, "Delivery Status Notification (Failure)");
  assert.equal(report.messageId, "<6788b9f8.050a0220.3c1b2e.0001.GMR@mx.google.com>");
});

Deno.test("parseBounce() ignores VERP addresses whose tag does not verify", async () => {
  const other = { ...SAMPLE_VERP, secret: "another-secret-entirely-0000" };
  const report = await parseBounce(readSample("postfix_user_unknown.eml"), { verp: other });
  const [bounce] = report.outcomes;
  assert.equal(bounce.verpId, undefined);
  // The Message-ID fallback still ties it to the original message.
  assert.equal(bounce.originalMessageId, "<ferry.1001.7f3a@mail.ferry.test>");
});

function dsn(groups: string, to: string): Uint8Array {
  return new TextEncoder().encode(
    [
      "From: MAILER-DAEMON@mx.example.net",
      `To: ${to}`,
      "Subject: Undelivered Mail Returned to Sender",
      "MIME-Version: 1.0",
      'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
      "",
      "--b",
      "Content-Type: text/plain",
      "",
      "Report.",
      "--b",
      "Content-Type: message/delivery-status",
      "",
      groups,
      "--b--",
      "",
    ].join("\r\n"),
  );
}

Deno.test("parseBounce() yields one outcome per failed or delayed recipient of a DSN", async () => {
  const to = encodeVerp(77, SAMPLE_VERP);
  const raw = dsn(
    [
      "Reporting-MTA: dns; mx.example.net",
      "",
      "Final-Recipient: rfc822; a@example.org",
      "Action: failed",
      "Status: 5.1.1",
      "",
      "Final-Recipient: rfc822; b@example.org",
      "Action: delivered",
      "Status: 2.0.0",
      "",
      "Final-Recipient: rfc822; c@example.org",
      "Action: delayed",
      "Status: 4.2.2",
      "Diagnostic-Code: smtp; 452 4.2.2 mailbox full",
      "",
    ].join("\r\n"),
    to,
  );
  const report = await parseBounce(raw, { verp: SAMPLE_VERP });
  assert.deepEqual(
    report.outcomes.map((o) =>
      o.kind === "bounce" ? [o.recipient, o.status, o.class, o.hard, o.verpId] : o.kind
    ),
    [
      ["a@example.org", "5.1.1", "invalid_recipient", true, "77"],
      ["c@example.org", "4.2.2", "mailbox_full", false, "77"],
    ],
  );
});

Deno.test("parseBounce() reports a DSN of successful deliveries as unrecognised", async () => {
  const raw = dsn(
    "Final-Recipient: rfc822; a@example.org\r\nAction: delivered\r\nStatus: 2.0.0\r\n",
    "x@y",
  );
  const report = await parseBounce(raw);
  assert.deepEqual(report.outcomes, [{
    kind: "unrecognised",
    reason: "DSN reports no failure (delivered)",
  }]);
});

Deno.test("parseBounce() turns garbage into an unrecognised outcome instead of throwing", async () => {
  for (
    const raw of [
      new Uint8Array(0),
      new Uint8Array([0, 255, 13, 10, 0]),
      crypto.getRandomValues(new Uint8Array(512)),
    ]
  ) {
    const report = await parseBounce(raw, { verp: SAMPLE_VERP });
    assert.equal(report.outcomes.length, 1);
    assert.equal(report.outcomes[0].kind, "unrecognised");
  }
});
