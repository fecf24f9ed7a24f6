import assert from "node:assert/strict";
import {
  describeOutcome,
  failureFrom,
  makeReply,
  parseEhlo,
  resolveTimeouts,
  retryAfterFromText,
} from "../../../relay/smtp/mod.ts";

Deno.test("retryAfterFromText() extracts retry hints in seconds, minutes and hours", () => {
  assert.equal(retryAfterFromText("Greylisted, please try again in 300 seconds"), 300_000);
  assert.equal(retryAfterFromText("Too many connections, retry in 5 minutes"), 300_000);
  assert.equal(retryAfterFromText("Rate limited. Try again after 2 hours."), 7_200_000);
  assert.equal(retryAfterFromText("come back in 90s"), 90_000);
  assert.equal(retryAfterFromText("Please retry after 99999 hours"), 86_400_000, "capped at a day");
  assert.equal(retryAfterFromText("Mailbox full, 5 minutes of storage left"), undefined);
  assert.equal(retryAfterFromText("Try again later"), undefined);
});

Deno.test("failureFrom() classifies by code class and widens 421 to the connection", () => {
  const reply = (code: number, text: string) => makeReply(code, [text]);
  assert.deepEqual(
    failureFrom(reply(450, "4.2.0 Greylisted, try again in 5 minutes"), "recipient"),
    {
      kind: "transient",
      scope: "recipient",
      code: 450,
      enhanced: "4.2.0",
      text: "Greylisted, try again in 5 minutes",
      source: "peer",
      retryAfterMs: 300_000,
    },
  );
  assert.deepEqual(
    [
      failureFrom(reply(421, "4.7.0 Try later"), "recipient").scope,
      failureFrom(reply(554, "no"), "message").kind,
    ],
    ["connection", "permanent"],
  );
  const odd = failureFrom(reply(250, "fine?"), "message");
  assert.deepEqual([odd.kind, odd.scope, odd.source], ["transient", "connection", "local"]);
});

Deno.test("describeOutcome() renders the reply as stored in last_reply", () => {
  const failure = failureFrom(
    makeReply(550, ["5.1.1 No such user", "5.1.1 See docs"]),
    "recipient",
  );
  assert.equal(describeOutcome(failure), "550 5.1.1 No such user\n550 5.1.1 See docs");
});

Deno.test("parseEhlo() reads the extensions Ferry uses", () => {
  const caps = parseEhlo(makeReply(250, [
    "mx.example.net at your service",
    "SIZE 35882577",
    "8BITMIME",
    "STARTTLS",
    "ENHANCEDSTATUSCODES",
    "pipelining",
    "AUTH=LOGIN",
    "AUTH PLAIN login XOAUTH2",
    "SMTPUTF8",
    "CHUNKING",
  ]));
  assert.deepEqual(
    [
      caps.esmtp,
      caps.pipelining,
      caps.startTls,
      caps.size,
      caps.eightBitMime,
      caps.smtpUtf8,
      caps.enhancedStatusCodes,
    ],
    [true, true, true, 35882577, true, true, true],
  );
  assert.deepEqual(caps.auth, ["LOGIN", "PLAIN", "XOAUTH2"]);
  assert.ok(caps.keywords.has("CHUNKING"));
  assert.equal(parseEhlo(makeReply(250, ["x", "SIZE"])).size, 0);
  assert.equal(parseEhlo(makeReply(250, ["x"])).size, undefined);
});

Deno.test("resolveTimeouts() keeps RFC 5321 defaults and rejects non-positive values", () => {
  const t = resolveTimeouts({ rcpt: 1_000 });
  assert.deepEqual([t.greeting, t.mail, t.rcpt, t.dataInit, t.dataBlock, t.dataEnd], [
    300_000,
    300_000,
    1_000,
    120_000,
    180_000,
    600_000,
  ]);
  assert.throws(
    () => resolveTimeouts({ mail: 0 }),
    /Cannot use SMTP timeouts as 'mail' must be > 0: current value is 0/,
  );
});
