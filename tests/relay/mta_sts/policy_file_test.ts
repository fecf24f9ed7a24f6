import assert from "node:assert/strict";
import { MAX_MAX_AGE_SECONDS, parsePolicy, type StsPolicy } from "../../../relay/mta_sts/mod.ts";

const policy = (text: string): StsPolicy | string => {
  const r = parsePolicy(text);
  return r.ok ? r.value : `invalid: ${r.reason}`;
};

Deno.test("parsePolicy() reads the RFC 8461 §3.2 example with CRLF or LF line ends", () => {
  const lines = [
    "version: STSv1",
    "mode: enforce",
    "mx: mail.example.com",
    "mx: *.example.net",
    "mx: backupmx.example.com",
    "max_age: 604800",
  ];
  const expected: StsPolicy = {
    mode: "enforce",
    mx: ["mail.example.com", "*.example.net", "backupmx.example.com"],
    maxAge: 604800,
  };
  assert.deepEqual(policy(lines.join("\r\n") + "\r\n"), expected);
  assert.deepEqual(policy(lines.join("\n")), expected);
  assert.deepEqual(policy(lines.join("\n") + "\n\n"), expected);
});

Deno.test("parsePolicy() ignores unknown keys, trims blanks and lower-cases mx patterns", () => {
  const text = "version: STSv1\nmode:testing  \nfuture_key: some value\nmx:\tMX1.Example.COM\n" +
    "mx: mx1.example.com\nmax_age: 86400\n";
  assert.deepEqual(policy(text), { mode: "testing", mx: ["mx1.example.com"], maxAge: 86400 });
});

Deno.test("parsePolicy() takes a none policy without mx, and max_age at its limit", () => {
  assert.deepEqual(policy("version: STSv1\nmode: none\nmax_age: 0\n"), {
    mode: "none",
    mx: [],
    maxAge: 0,
  });
  const atLimit = policy(`version: STSv1\nmode: testing\nmx: a.b\nmax_age: ${MAX_MAX_AGE_SECONDS}`);
  assert.equal(typeof atLimit === "object" && atLimit.maxAge, MAX_MAX_AGE_SECONDS);
});

Deno.test("parsePolicy() refuses a file with a missing or invalid required field", () => {
  const ok = ["version: STSv1", "mode: enforce", "mx: mx.example.com", "max_age: 86400"];
  const without = (key: string) => ok.filter((l) => !l.startsWith(key)).join("\n");
  const replace = (key: string, line: string) =>
    ok.map((l) => (l.startsWith(key) ? line : l)).join("\n");
  const cases: Record<string, string> = {
    "no version": without("version"),
    "no mode": without("mode"),
    "no mx": without("mx"),
    "no max_age": without("max_age"),
    "version not first": [...ok.slice(1), ok[0]].join("\n"),
    "version STSv2": replace("version", "version: STSv2"),
    "mode Enforce": replace("mode", "mode: Enforce"),
    "mode strict": replace("mode", "mode: strict"),
    "max_age negative": replace("max_age", "max_age: -1"),
    "max_age over the limit": replace("max_age", `max_age: ${MAX_MAX_AGE_SECONDS + 1}`),
    "max_age of 11 digits": replace("max_age", "max_age: 00000086400"),
    "max_age with a unit": replace("max_age", "max_age: 86400s"),
    "mx with two wildcards": replace("mx", "mx: *.*.example.com"),
    "mx with an inner wildcard": replace("mx", "mx: mx.*.example.com"),
    "mx with a trailing dot": replace("mx", "mx: mx.example.com."),
    "mx with an underscore": replace("mx", "mx: mx_1.example.com"),
    "a line without colon": [...ok, "garbage"].join("\n"),
    "an empty value": [...ok, "note:"].join("\n"),
    "a key with a space": [...ok, "bad key: x"].join("\n"),
    "an empty file": "",
    "an HTML page": "<html><body>version: STSv1</body></html>",
  };
  for (const [name, text] of Object.entries(cases)) {
    assert.match(String(policy(text)), /^invalid: /, name);
  }
});

Deno.test("parsePolicy() keys are case-sensitive and the first of a repeated field counts", () => {
  const text = "version: STSv1\nMode: none\nmode: testing\nmode: enforce\nmx: a.example\n" +
    "max_age: 60\nmax_age: 120\n";
  assert.deepEqual(policy(text), { mode: "testing", mx: ["a.example"], maxAge: 60 });
});
