import assert from "node:assert/strict";
import {
  apopDigest,
  apopTimestamp,
  parseCapabilities,
  parseStatusLine,
  redactCommand,
} from "../../../relay/pop3/mod.ts";

Deno.test("parseStatusLine() reads +OK, -ERR and RFC 2449 response codes", () => {
  assert.deepEqual(parseStatusLine("+OK 2 320"), { ok: true, text: "2 320" });
  assert.deepEqual(parseStatusLine("+OK"), { ok: true, text: "" });
  assert.deepEqual(parseStatusLine("-ERR [IN-USE] Mailbox locked"), {
    ok: false,
    text: "[IN-USE] Mailbox locked",
    code: "IN-USE",
  });
  assert.deepEqual(parseStatusLine("-ERR [sys/temp] later"), {
    ok: false,
    text: "[sys/temp] later",
    code: "SYS/TEMP",
  });
  assert.deepEqual(parseStatusLine("-ERR"), { ok: false, text: "" });
  assert.equal(parseStatusLine("* OK IMAP4 ready"), undefined);
  assert.equal(parseStatusLine("+OKAY"), undefined);
});

Deno.test("apopDigest() matches the example of RFC 1939 §7", () => {
  const greeting = "POP3 server ready <1896.697170952@dbc.mtview.ca.us>";
  const timestamp = apopTimestamp(greeting);
  assert.equal(timestamp, "<1896.697170952@dbc.mtview.ca.us>");
  assert.equal(apopDigest(timestamp!, "tanstaaf"), "c4c9334bac560ecc979e58001b3e22fb");
  assert.equal(apopTimestamp("Dovecot ready."), undefined);
});

Deno.test("redactCommand() hides PASS and the APOP digest, nothing else", () => {
  assert.equal(redactCommand("PASS hunter2 with spaces"), "PASS ****");
  assert.equal(redactCommand("pass x"), "pass ****");
  assert.equal(redactCommand("APOP mrose c4c9334bac560ecc979e58001b3e22fb"), "APOP mrose ****");
  assert.equal(redactCommand("USER mrose"), "USER mrose");
  assert.equal(redactCommand("RETR 1"), "RETR 1");
});

Deno.test("parseCapabilities() maps upper-cased tags to their arguments", () => {
  const caps = parseCapabilities(["TOP", "sasl PLAIN LOGIN", "IMPLEMENTATION Dovecot", ""]);
  assert.deepEqual(caps.get("SASL"), ["PLAIN", "LOGIN"]);
  assert.deepEqual(caps.get("TOP"), []);
  assert.equal(caps.has("STLS"), false);
});
