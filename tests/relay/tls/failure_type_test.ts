import assert from "node:assert/strict";
import { tlsFailureType } from "../../../relay/tls/mod.ts";

Deno.test("tlsFailureType() names rustls's certificate errors by RFC 8460's result types", () => {
  const cases: [string, string][] = [
    [
      "invalid peer certificate: certificate expired: verification time 1 > 0",
      "certificate-expired",
    ],
    ["invalid peer certificate: NotValidYet", "certificate-expired"],
    [
      'invalid peer certificate: certificate not valid for name "mx.wrong-name.test"',
      "certificate-host-mismatch",
    ],
    ["invalid peer certificate: UnknownIssuer", "certificate-not-trusted"],
    ["self-signed certificate in certificate chain", "certificate-not-trusted"],
    ["received fatal alert: HandshakeFailure", "validation-failure"],
    ["The wait was cut short", "validation-failure"],
  ];
  for (const [message, type] of cases) assert.equal(tlsFailureType(message), type, message);
});
