import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { generateKeyPairSync } from "node:crypto";
import {
  checkDkimKeys,
  dkimDnsRecord,
  type DkimKeyConfig,
  keysForDomain,
} from "../../../relay/dkim/keys.ts";

const ed = () =>
  generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const rsa = (bits: number) =>
  generateKeyPairSync("rsa", { modulusLength: bits }).privateKey
    .export({ type: "pkcs8", format: "pem" }).toString();

const ED_PEM = ed();
const key = (over: Partial<DkimKeyConfig> = {}): DkimKeyConfig => ({
  domain: "example.com",
  selector: "s1",
  privateKey: ED_PEM,
  algorithm: "ed25519-sha256",
  ...over,
});

Deno.test("checkDkimKeys() accepts good keys and normalises the domain to A-labels", () => {
  const [checked] = checkDkimKeys([key({ domain: "Bücher.Example." })]);
  assert.equal(checked?.domain, "xn--bcher-kva.example");
});

Deno.test("checkDkimKeys() names the key and the problem", () => {
  const cases: [Partial<DkimKeyConfig>, RegExp][] = [
    [{ domain: "not a domain" }, /'domain' must be a DNS name/],
    [{ selector: "bad selector" }, /'selector' must be one or more DNS labels/],
    [{ algorithm: "rsa-sha1" as never }, /'algorithm' must be rsa-sha256 or ed25519-sha256/],
    [{ privateKey: "-----BEGIN NOTHING-----" }, /'privateKey' is not a PEM private key/],
    [{ algorithm: "rsa-sha256" }, /is a ed25519 key but 'algorithm' is rsa-sha256/],
    [
      { privateKey: rsa(512), algorithm: "rsa-sha256" },
      /an RSA key must be >= 1024 bits: it has 512/,
    ],
  ];
  for (const [over, reason] of cases) {
    assert.throws(
      () => checkDkimKeys([key(), key({ selector: "s2", ...over })]),
      (err: Error) => {
        assert.equal(err.name, "DkimConfigError");
        assert.match(err.message, /^Cannot use DKIM key #2 \(/);
        assert.match(err.message, reason);
        return true;
      },
    );
  }
  assert.throws(
    () => checkDkimKeys([key(), key({ selector: "S1" })]),
    /s1._domainkey.example.com is configured twice/,
  );
});

Deno.test("keysForDomain() prefers the exact domain, then the nearest parent with subdomains", () => {
  const keys = checkDkimKeys([
    key({ domain: "example.com", selector: "a" }),
    key({ domain: "example.com", selector: "b" }),
    key({ domain: "corp.example", selector: "c", subdomains: true }),
    key({ domain: "eu.corp.example", selector: "d" }),
  ]);
  const selectors = (domain: string) => keysForDomain(keys, domain).map((k) => k.selector);
  assert.deepEqual(selectors("EXAMPLE.com"), ["a", "b"]);
  assert.deepEqual(selectors("mail.example.com"), [], "no subdomains flag");
  assert.deepEqual(selectors("corp.example"), ["c"]);
  assert.deepEqual(
    selectors("x.eu.corp.example"),
    ["c"],
    "eu.corp.example does not cover subdomains",
  );
  assert.deepEqual(selectors("eu.corp.example"), ["d"]);
  assert.deepEqual(selectors("other.example"), []);
});

Deno.test("dkimDnsRecord() publishes the raw Ed25519 key and the RSA SubjectPublicKeyInfo", () => {
  const edRecord = dkimDnsRecord(ED_PEM);
  assert.match(edRecord, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
  assert.equal(Buffer.from(edRecord.split("p=")[1]!, "base64").length, 32);
  assert.match(
    dkimDnsRecord(rsa(1024)),
    /^v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ/,
  );
});
