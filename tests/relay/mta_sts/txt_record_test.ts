import assert from "node:assert/strict";
import { isStsRecord, parseStsRecord, selectStsRecord } from "../../../relay/mta_sts/mod.ts";

const id = (text: string) => {
  const r = parseStsRecord(text);
  return r.ok ? r.value.id : `invalid: ${r.reason}`;
};

Deno.test("parseStsRecord() reads the RFC 8461 §3.1 example and its spacing variants", () => {
  assert.equal(id("v=STSv1; id=20160831085700Z;"), "20160831085700Z");
  assert.equal(id("v=STSv1;id=20160831085700Z"), "20160831085700Z");
  assert.equal(id("v=STSv1 ;\tid=abc ; "), "abc");
  assert.equal(id(`v=STSv1; id=${"a".repeat(32)}`), "a".repeat(32));
});

Deno.test("parseStsRecord() ignores unknown fields and takes the first id", () => {
  assert.equal(id("v=STSv1; rua=mailto:x@example.com; id=1"), "1");
  assert.equal(id("v=STSv1; id=first; id=second;"), "first");
  assert.equal(id("v=STSv1; id=A1; future.ext=!x~"), "A1");
});

Deno.test("parseStsRecord() refuses malformed records", () => {
  const invalid = [
    "",
    "v=STSv1",
    "v=STSv1;",
    "v=STSv2; id=1",
    "v=stsv1; id=1",
    " v=STSv1; id=1",
    "id=1; v=STSv1",
    "v=STSv1; ID=1",
    "v=STSv1; id=",
    `v=STSv1; id=${"a".repeat(33)}`,
    "v=STSv1; id=has-dash",
    "v=STSv1; id=has space",
    "v=STSv1;; id=1",
    "v=STSv1; id=1; novalue",
    "v=STSv1; id=1; ext=a=b",
    "v=STSv1; id=1; _bad=1",
    "v=STSv1; id=1; ext=é",
  ];
  for (const text of invalid) assert.match(id(text), /^invalid: /, JSON.stringify(text));
});

Deno.test("selectStsRecord() skips other TXT records and refuses several STS records", () => {
  const other = "google-site-verification=abc";
  assert.deepEqual(selectStsRecord([other, "v=STSv1; id=7;"]), { ok: true, value: { id: "7" } });
  const none = selectStsRecord([other]);
  assert.ok(!none.ok && /no TXT record begins/.test(none.reason));
  const two = selectStsRecord(["v=STSv1; id=1;", "v=STSv1; id=2;"]);
  assert.ok(!two.ok && /2 TXT records/.test(two.reason));
  // Two records, one of them broken: still two, still no policy (§3.1).
  assert.equal(selectStsRecord(["v=STSv1; id=1;", "v=STSv1; junk"]).ok, false);
  assert.equal(isStsRecord("v=STSv1; id=1"), true);
  assert.equal(isStsRecord("v=STSv10; id=1"), false);
});
