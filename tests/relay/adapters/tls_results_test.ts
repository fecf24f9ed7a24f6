import assert from "node:assert/strict";
import { failureReasonCode, tlsResultOf } from "../../../relay/adapters/tls_results.ts";
import { countKey, countOf } from "../../../relay/tls_rpt/mod.ts";
import type { TlsReport } from "../../../relay/adapters/smtp_deliverer.ts";

const AT = Date.UTC(2030, 0, 1, 12);
const base = {
  domain: "example.test",
  mxHost: "mx.example.test",
  address: "192.0.2.25",
  tlsPolicy: "verified",
  tls: true,
  verified: true,
} as const;

Deno.test("tlsResultOf() maps each applied policy and result to RFC 8460's terms", () => {
  const sts: TlsReport = {
    ...base,
    applied: {
      kind: "mta-sts",
      mode: "enforce",
      policy: {
        domain: "example.test",
        id: "20300101",
        mode: "enforce",
        mx: ["mx.example.test", "*.backup.example.test"],
        maxAge: 86_400,
        fetchedAt: AT,
        expiresAt: AT + 86_400_000,
        lastError: null,
      },
    },
    result: "certificate-expired",
    reason: "TLS handshake with mx.example.test failed: certificate expired",
  };
  assert.deepEqual(tlsResultOf(sts, AT), {
    domain: "example.test",
    policy: {
      type: "sts",
      strings: [
        "version: STSv1",
        "mode: enforce",
        "mx: mx.example.test",
        "mx: *.backup.example.test",
        "max_age: 86400",
      ],
    },
    outcome: {
      failure: "certificate-expired",
      receivingMxHostname: "mx.example.test",
      receivingIp: "192.0.2.25",
      failureReasonCode: "certificate expired",
    },
    at: AT,
  });

  const dane: TlsReport = {
    ...base,
    applied: { kind: "dane", tlsaName: "_25._tcp.mx.example.test", records: ["3 1 1 ab"] },
    result: "success",
  };
  assert.deepEqual(tlsResultOf(dane, AT)?.policy, {
    type: "tlsa",
    strings: ["3 1 1 ab"],
    mxHost: "mx.example.test",
  });
  assert.equal(tlsResultOf(dane, AT)?.outcome, "success");
});

Deno.test("tlsResultOf(): without a policy, a session in the clear is starttls-not-supported", () => {
  const clear: TlsReport = {
    ...base,
    tls: false,
    verified: false,
    tlsPolicy: "opportunistic",
    applied: { kind: "none" },
    result: "success",
  };
  const r = tlsResultOf(clear, AT)!;
  assert.equal(r.policy.type, "no-policy-found");
  assert.deepEqual(r.outcome, {
    failure: "starttls-not-supported",
    receivingMxHostname: "mx.example.test",
    receivingIp: "192.0.2.25",
  });
  assert.equal(tlsResultOf({ ...clear, tls: true }, AT)?.outcome, "success");
});

Deno.test("tlsResultOf(): a static route is the operator's hop and is not reported", () => {
  const route: TlsReport = {
    ...base,
    applied: { kind: "route", pattern: "*" },
    result: "certificate-not-trusted",
  };
  assert.equal(tlsResultOf(route, AT), undefined);
});

Deno.test("tlsResultOf(): sessions that failed alike share one counter, whenever they failed", () => {
  // rustls's error for an expired certificate, as the relay wraps it: the verification time (and
  // how long ago the certificate expired) differ from one session to the next.
  const expired = (now: number): TlsReport => ({
    ...base,
    applied: { kind: "none" },
    tlsPolicy: "verified",
    tls: false,
    verified: false,
    result: "certificate-expired",
    reason: "TLS handshake with mx.example.test failed: Cannot establish TLS with " +
      "'mx.example.test' (verified): invalid peer certificate: certificate expired: " +
      `verification time ${now} (UNIX), but certificate is not valid after 1577923200 (UNIX) ` +
      `(${now - 1577923200} seconds ago)`,
  });
  const first = tlsResultOf(expired(1796367521), AT)!;
  const later = tlsResultOf(expired(1796367528), AT + 3_600_000)!;
  assert.deepEqual(first.outcome, {
    failure: "certificate-expired",
    receivingMxHostname: "mx.example.test",
    receivingIp: "192.0.2.25",
    failureReasonCode: "invalid peer certificate: certificate expired",
  });
  assert.equal(countKey(countOf(first)!), countKey(countOf(later)!));
});

Deno.test("failureReasonCode() keeps a reason that names no session", () => {
  for (
    const reason of [
      "TLS is required (policy 'verified') but mx.example.test does not offer STARTTLS",
      "TLS handshake with mx.example.test failed: Cannot establish TLS with 'mx.example.test' " +
      "(verified): invalid peer certificate: UnknownIssuer",
    ]
  ) {
    assert.doesNotMatch(failureReasonCode(reason), /^TLS handshake|^Cannot establish/);
    assert.ok(failureReasonCode(reason).length > 0);
  }
  assert.equal(
    failureReasonCode(
      "TLS handshake with mx.example.test failed: Cannot establish TLS with 'mx.example.test' " +
        "(verified): invalid peer certificate: UnknownIssuer",
    ),
    "invalid peer certificate: UnknownIssuer",
  );
});

Deno.test("tlsResultOf(): under a testing MTA-STS policy, a session in the clear is a failure", () => {
  const testing: TlsReport = {
    ...base,
    tls: false,
    verified: false,
    tlsPolicy: "opportunistic",
    applied: {
      kind: "mta-sts",
      mode: "testing",
      policy: {
        domain: "example.test",
        id: "1",
        mode: "testing",
        mx: ["mx.example.test"],
        maxAge: 86_400,
        fetchedAt: AT,
        expiresAt: AT + 86_400_000,
        lastError: null,
      },
    },
    result: "success",
  };
  assert.equal(tlsResultOf(testing, AT)?.policy.type, "sts");
  assert.deepEqual(tlsResultOf(testing, AT)?.outcome, {
    failure: "starttls-not-supported",
    receivingMxHostname: "mx.example.test",
    receivingIp: "192.0.2.25",
  });
  assert.equal(tlsResultOf({ ...testing, tls: true }, AT)?.outcome, "success");
});
