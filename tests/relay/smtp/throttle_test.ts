/** The throttling signatures against replies as the providers send them, and look-alikes that are not. */
import assert from "node:assert/strict";
import {
  failureFrom,
  makeReply,
  replyText,
  THROTTLE_SIGNATURES,
  throttleSignature,
} from "../../../relay/smtp/mod.ts";

/** The signature a raw reply line matches, or undefined. */
function signatureOf(line: string): string | undefined {
  const code = Number(line.slice(0, 3));
  const reply = makeReply(code, [line.slice(4)]);
  return throttleSignature({ code, enhanced: reply.enhanced, text: replyText(reply) })?.name;
}

const THROTTLES: readonly [string, string][] = [
  [
    "421 4.7.28 [203.0.113.42] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. - gsmtp",
    "gmail-unsolicited-rate",
  ],
  [
    "421 4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your DKIM domain. - gsmtp",
    "gmail-unsolicited-rate",
  ],
  ["450 4.2.1 Peak SMTP relay limit exceeded for customer. - gsmtp", "gmail-relay-peak"],
  [
    "451 4.7.500 Server busy. Please try again later from [203.0.113.42]. (S77719) [FR2DEU01FT008.eop-deu01.prod.protection.outlook.com]",
    "microsoft-access-denied-try-later",
  ],
  [
    "451 4.7.650 The mail server [203.0.113.42] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://aka.ms/postmaster (S775)",
    "microsoft-access-denied-try-later",
  ],
  [
    "421 RP-001 (SNT0-MC2-F19) Unfortunately, some messages from 203.0.113.42 weren't sent. Please try again. We have limits for how many messages can be sent per hour and per day.",
    "outlook-rp-limits",
  ],
  [
    "421 4.3.2 The maximum number of concurrent server connections has exceeded a limit, closing transmission channel",
    "exchange-concurrent-connections",
  ],
  [
    "421 4.7.0 [TSS04] Messages from 203.0.113.42 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    "yahoo-deferred-volume",
  ],
  [
    "421 4.7.0 [TS01] Messages from 203.0.113.42 temporarily deferred due to user complaints - 4.16.55.1",
    "yahoo-deferred-volume",
  ],
  [
    "421 4.1.0 203.0.113.42 Throttled - try again later. Please see http://postmaster.comcast.net/smtp-error-codes.php#RL000002",
    "comcast-rate-limit",
  ],
  ["421 resimta-po-18v.sys.comcast.net Too many sessions opened", "too-many-connections"],
  [
    "421 4.7.0 mx.example.net Error: too many connections from 203.0.113.42",
    "too-many-connections",
  ],
  ["451 4.7.0 rate limited", "generic-rate-limit"],
  ["450 4.7.1 Rate limit exceeded, try again in 10 minutes", "generic-rate-limit"],
  ["451 Too many messages, slow down", "generic-rate-limit"],
  [
    "450 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. Please resend your message at a later time. - gsmtp",
    "gmail-recipient-rate",
  ],
  [
    "421 4.7.1 Messages to someone@icloud.com deferred due to excessive volume. Try again later - https://support.apple.com/en-us/HT204137",
    "icloud-recipient-volume",
  ],
];

const NOT_THROTTLES: readonly string[] = [
  "451 4.7.1 Greylisted, please try again in 300 seconds",
  "452 4.2.2 The email account that you tried to reach is over quota. - gsmtp",
  "452 4.5.3 Your message has too many recipients. - gsmtp",
  "421 4.7.0 [TS03] All messages from 203.0.113.42 will be permanently deferred; Retrying will NOT succeed.",
  "451 4.3.0 Temporary lookup failure",
  "421 4.4.5 Server busy, try again later. - gsmtp",
  "550 5.7.1 Rate limited: refused for good", // a 5xx refuses, whatever its words
  "554 5.7.28 unusual rate",
];

Deno.test("throttleSignature() recognises the providers' throttling replies", () => {
  for (const [line, name] of THROTTLES) assert.equal(signatureOf(line), name, line);
});

Deno.test("throttleSignature() leaves other transient failures and every 5xx alone", () => {
  for (const line of NOT_THROTTLES) assert.equal(signatureOf(line), undefined, line);
});

Deno.test("throttle signatures limit the sender, except those about one mailbox", () => {
  const recipient = THROTTLE_SIGNATURES.filter((s) => s.scope === "recipient").map((s) => s.name);
  assert.deepEqual(recipient, ["gmail-recipient-rate", "icloud-recipient-volume"]);
  for (const s of THROTTLE_SIGNATURES) assert.ok(s.source.length > 0, `${s.name} cites a source`);
});

Deno.test("failureFrom() marks a throttling reply with whom it limits", () => {
  const sender = failureFrom(makeReply(451, ["4.7.0 rate limited"]), "message");
  assert.equal(sender.kind === "transient" && sender.throttle, "sender");
  const mailbox = failureFrom(
    makeReply(450, [
      "4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered.",
    ]),
    "recipient",
  );
  assert.equal(mailbox.kind === "transient" && mailbox.throttle, "recipient");
  const grey = failureFrom(makeReply(450, ["4.7.1 Greylisted"]), "recipient");
  assert.equal(grey.kind === "transient" && grey.throttle, undefined);
});
