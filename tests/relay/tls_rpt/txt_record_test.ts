import assert from "node:assert/strict";
import {
  isTlsRptRecord,
  lookupTlsRpt,
  parseTlsRptRecord,
  selectTlsRptRecord,
} from "../../../relay/tls_rpt/mod.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";

const rua = (text: string) => {
  const r = parseTlsRptRecord(text);
  return r.ok ? r.record.rua.map((u) => u.kind === "mailto" ? u.addresses : u.uri) : r.reason;
};

Deno.test("parseTlsRptRecord() reads the RFC 8460 §3.1 examples", () => {
  assert.deepEqual(rua("v=TLSRPTv1;rua=mailto:reports@example.com"), [["reports@example.com"]]);
  assert.deepEqual(rua("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt"), [
    "https://reporting.example.com/v1/tlsrpt",
  ]);
  assert.deepEqual(
    rua("v=TLSRPTv1; rua=mailto:reports@example.com,https://reporting.example.com/v1/tlsrpt"),
    [["reports@example.com"], "https://reporting.example.com/v1/tlsrpt"],
  );
});

Deno.test("parseTlsRptRecord() allows blanks around delimiters and a trailing ';'", () => {
  assert.deepEqual(rua("v=TLSRPTv1 ;\trua=mailto:a@example.com , mailto:b@example.com ; "), [
    ["a@example.com"],
    ["b@example.com"],
  ]);
});

Deno.test("parseTlsRptRecord() ignores unknown fields and takes the first rua", () => {
  assert.deepEqual(rua("v=TLSRPTv1; ext.1=x!y; rua=mailto:a@example.com; rua=mailto:b@x.test"), [
    ["a@example.com"],
  ]);
});

Deno.test("parseTlsRptRecord() decodes a mailto's percent-encoded commas into addresses", () => {
  assert.deepEqual(rua("v=TLSRPTv1; rua=mailto:a@example.com%2Cb@example.com?subject=x"), [
    ["a@example.com", "b@example.com"],
  ]);
});

Deno.test("parseTlsRptRecord() sets aside schemes it cannot send to", () => {
  const r = parseTlsRptRecord("v=TLSRPTv1; rua=http://plain.example.com/,mailto:a@example.com");
  assert.ok(r.ok);
  assert.deepEqual(r.record.unsupported, ["http://plain.example.com/"]);
  assert.equal(r.record.rua.length, 1);
});

Deno.test("parseTlsRptRecord() refuses malformed records", () => {
  const invalid = [
    "",
    "v=TLSRPTv1",
    "v=TLSRPTv1;",
    "v=TLSRPTv2; rua=mailto:a@example.com",
    "v=tlsrptv1; rua=mailto:a@example.com",
    " v=TLSRPTv1; rua=mailto:a@example.com",
    "rua=mailto:a@example.com; v=TLSRPTv1",
    "v=TLSRPTv1; rua=",
    "v=TLSRPTv1; rua=mailto:",
    "v=TLSRPTv1; rua=mailto:not-an-address",
    "v=TLSRPTv1; rua=https://",
    "v=TLSRPTv1; rua=https://user:pw@example.com/",
    "v=TLSRPTv1; rua=mailto:a@example.com; novalue",
    "v=TLSRPTv1; rua=mailto:a@example.com; _bad=1",
    "v=TLSRPTv1; rua=mailto:a@example.com; ext=a b",
    "v=TLSRPTv1; rua=not a uri",
    "v=TLSRPTv1; rua=mailto:a%ZZ@example.com",
  ];
  for (const text of invalid) {
    assert.equal(parseTlsRptRecord(text).ok, false, JSON.stringify(text));
  }
});

Deno.test("selectTlsRptRecord() takes the one TLSRPT record among other TXT records", () => {
  assert.ok(isTlsRptRecord("v=TLSRPTv1;rua=mailto:a@example.com"));
  assert.ok(!isTlsRptRecord("v=spf1 -all"));
  const one = selectTlsRptRecord(["v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@example.com"]);
  assert.ok(one.ok);
  // §3: more than one, or none, and the domain takes no reports.
  const two = selectTlsRptRecord([
    "v=TLSRPTv1; rua=mailto:a@example.com",
    "v=TLSRPTv1; rua=mailto:b@example.com",
  ]);
  assert.equal(two.ok, false);
  assert.equal(selectTlsRptRecord(["v=spf1 -all"]).ok, false);
});

Deno.test("lookupTlsRpt() asks _smtp._tls.<domain> and tells none from a DNS failure", async () => {
  const dns = new FakeResolver({
    "_smtp._tls.example.com": { txt: ["v=TLSRPTv1; rua=mailto:tlsrpt@example.com"] },
    "_smtp._tls.gopher.test": { txt: ["v=TLSRPTv1; rua=gopher://x.test/"] },
    "_smtp._tls.broken.test": { txt: ["v=TLSRPTv1; rua=mailto"] },
  });
  dns.fail("_smtp._tls.down.test", "error");
  const found = await lookupTlsRpt(dns, "example.com");
  assert.equal(found.kind, "record");
  assert.deepEqual(dns.queries.at(-1), { name: "_smtp._tls.example.com", type: "TXT" });
  assert.equal((await lookupTlsRpt(dns, "nowhere.test")).kind, "none");
  assert.equal((await lookupTlsRpt(dns, "gopher.test")).kind, "none");
  assert.equal((await lookupTlsRpt(dns, "broken.test")).kind, "none");
  assert.equal((await lookupTlsRpt(dns, "down.test")).kind, "error");
});
