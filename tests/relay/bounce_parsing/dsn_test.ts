import assert from "node:assert/strict";
import {
  cleanDiagnostic,
  parseDeliveryStatus,
  parseFeedbackReport,
} from "../../../relay/bounce_parsing/mod.ts";

Deno.test("parseDeliveryStatus() splits per-message and per-recipient groups (RFC 3464 §2)", () => {
  const status = parseDeliveryStatus(
    "\r\nReporting-MTA: dns; mx.example.net\r\nX-Postfix-Sender: rfc822; bounces+1-abc@b.example\r\n" +
      "Original-Envelope-Id: env-1\r\n\r\n" +
      "Final-Recipient: RFC822; <a@example.org>\r\nOriginal-Recipient: rfc822;A@example.org\r\n" +
      "Action: Failed (permanent)\r\nStatus: 5.1.1 (bad mailbox)\r\nRemote-MTA: dns; mx1.example.org\r\n" +
      "Diagnostic-Code: smtp; 550 5.1.1 unknown\r\n   user\r\n\r\n" +
      "Final-Recipient: rfc822; b@example.org\r\nAction: delayed\r\nStatus: 4.4.1\r\n",
  );
  assert.equal(status.reportingMta, "mx.example.net");
  assert.equal(status.envelopeId, "env-1");
  assert.deepEqual(status.senders, ["bounces+1-abc@b.example"]);
  assert.deepEqual(status.recipients, [
    {
      finalRecipient: "a@example.org",
      originalRecipient: "A@example.org",
      action: "failed",
      status: "5.1.1 (bad mailbox)",
      diagnostic: "550 5.1.1 unknown user",
      remoteMta: "mx1.example.org",
    },
    {
      finalRecipient: "b@example.org",
      originalRecipient: undefined,
      action: "delayed",
      status: "4.4.1",
      diagnostic: undefined,
      remoteMta: undefined,
    },
  ]);
});

Deno.test("cleanDiagnostic() folds a multi-line SMTP reply into one sentence", () => {
  assert.equal(
    cleanDiagnostic(
      "550-5.7.1 [192.0.2.1] Our system has detected\n 550-5.7.1 that this message is\n 550 5.7.1 likely spam.",
    ),
    "550 5.7.1 [192.0.2.1] Our system has detected that this message is likely spam.",
  );
  assert.equal(cleanDiagnostic("  Unrouteable\n   address "), "Unrouteable address");
});

Deno.test("parseFeedbackReport() reads the RFC 5965 fields and needs Feedback-Type", () => {
  const report = parseFeedbackReport(
    "Feedback-Type: Abuse\nUser-Agent: FBL/1\nVersion: 1\nOriginal-Mail-From: <b+1-x@e.example>\n" +
      "Original-Rcpt-To: <r@example.org>\nReceived-Date: Thu, 1 Jan 2026 00:00:00 +0000\nSource-IP: 192.0.2.9\n",
  );
  assert.deepEqual(report, {
    feedbackType: "abuse",
    userAgent: "FBL/1",
    originalMailFrom: "b+1-x@e.example",
    originalRcptTo: "r@example.org",
    arrivalDate: "Thu, 1 Jan 2026 00:00:00 +0000",
    sourceIp: "192.0.2.9",
  });
  assert.equal(parseFeedbackReport("User-Agent: x\n"), undefined);
});
