import assert from "node:assert/strict";
import { parseTextBounce } from "../../../relay/bounce_parsing/mod.ts";

const base = { subject: "", from: "", failedRecipients: [] as string[] };

Deno.test("parseTextBounce() reads Postfix's non-DSN form, reason on the address line", () => {
  const got = parseTextBounce({
    ...base,
    from: "MAILER-DAEMON@mx.example.net",
    text: "This is the mail system at host mx.example.net.\n\n" +
      "<a@example.org>: host mx.example.org[192.0.2.1] said: 550 5.1.1 <a@example.org>:\n" +
      "    Recipient address rejected: User unknown\n",
  });
  assert.deepEqual(got, {
    kind: "parsed",
    action: "failed",
    failures: [{
      recipient: "a@example.org",
      diagnostic:
        "host mx.example.org[192.0.2.1] said: 550 5.1.1 <a@example.org>: Recipient address rejected: User unknown",
    }],
    original: undefined,
  });
});

Deno.test("parseTextBounce() reads an Exim delay warning as delayed", () => {
  const got = parseTextBounce({
    ...base,
    subject: "Warning: message 1rAbCd-000123-Xy delayed 24 hours",
    text: "This message was created automatically by mail delivery software.\n\n" +
      "A message that you sent has not yet been delivered to one or more of its\nrecipients after more than 24 hours on the queue on mx.example.com.\n\n" +
      "The address to which the message has not yet been delivered is:\n\n" +
      "  slow@example.org\n    Delay reason: SMTP error from remote mail server after RCPT TO:<slow@example.org>:\n" +
      "    451 4.2.2 Mailbox temporarily over quota\n\n" +
      "No action is required on your part.\n",
  });
  assert.equal(got.kind, "parsed");
  assert.equal(got.kind === "parsed" && got.action, "delayed");
  assert.equal(got.kind === "parsed" && got.failures[0].recipient, "slow@example.org");
});

Deno.test("parseTextBounce() falls back to X-Failed-Recipients and a line with a code", () => {
  const got = parseTextBounce({
    ...base,
    failedRecipients: ["x@example.org"],
    text: "Delivery failed.\nRemote said: 550 5.1.1 no such user here\nSorry.\n",
  });
  assert.deepEqual(got.kind === "parsed" && got.failures, [{
    recipient: "x@example.org",
    diagnostic: "Remote said: 550 5.1.1 no such user here",
  }]);
});

Deno.test("parseTextBounce() leaves a person's message alone", () => {
  const got = parseTextBounce({
    ...base,
    from: "Casey <casey@example.net>",
    subject: "Re: newsletter",
    text:
      "Hi,\n\nplease write to\n\n  casey@example.net\n    from now on, the old address 550 is gone.\n",
  });
  assert.equal(got.kind, "none");
});
