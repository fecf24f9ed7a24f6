import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { certificateFields, CertificateFormatError } from "../../../relay/dane/mod.ts";
import { danePki, hasOpenssl } from "./_pki.ts";
import { requirePeer } from "../../_support/peers.ts";

const ignore = requirePeer("openssl", !hasOpenssl);

Deno.test({
  name: "certificateFields() finds the SubjectPublicKeyInfo as the certificate encodes it",
  ignore,
  async fn() {
    const pki = await danePki();
    for (const cert of [pki.leaf, pki.intermediate, pki.root]) {
      const spki = new X509Certificate(cert.der).publicKey.export({ type: "spki", format: "der" });
      const fields = certificateFields(cert.der);
      assert.deepEqual(fields.spki, new Uint8Array(spki));
      assert.equal(fields.der, cert.der);
    }
  },
});

Deno.test({
  name: "certificateFields() reads subjectAltName dNSNames and the subject's common names",
  ignore,
  async fn() {
    const pki = await danePki();
    assert.deepEqual(certificateFields(pki.leaf.der).dnsNames, ["mx.example.test"]);
    assert.deepEqual(certificateFields(pki.leaf.der).commonNames, ["mx.example.test"]);
    assert.deepEqual(certificateFields(pki.wildcard.der).dnsNames, ["*.example.test"]);
    assert.deepEqual(certificateFields(pki.cnOnly.der).dnsNames, []);
    assert.deepEqual(certificateFields(pki.cnOnly.der).commonNames, ["mx.example.test"]);
    assert.deepEqual(certificateFields(pki.root.der).commonNames, ["ferry-dane-root"]);
  },
});

Deno.test({
  name: "certificateFields() refuses what is not one whole DER certificate",
  ignore,
  async fn() {
    const pki = await danePki();
    const bad = [
      new Uint8Array(0),
      Uint8Array.of(0x30, 0x80, 0, 0), // indefinite length: BER, not DER
      pki.leaf.der.subarray(0, pki.leaf.der.length - 1),
      Uint8Array.from([...pki.leaf.der, 0]),
      new TextEncoder().encode(pki.leaf.pem),
    ];
    for (const der of bad) assert.throws(() => certificateFields(der), CertificateFormatError);
  },
});
