/**
 * The report JSON (RFC 8460 §4): built from counters, checked against §4.4's schema; and the
 * schema itself, against the RFC's example report and against broken ones.
 */
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import {
  buildTlsReport,
  countOf,
  gzipReport,
  reportFileName,
  reportIdFor,
  reportProblem,
  type ResultCount,
  tlsReportSchema,
  type TlsResult,
} from "../../../relay/tls_rpt/mod.ts";

const DAY = "2026-03-01";
const T = Date.UTC(2026, 2, 1, 8);
const STS = ["version: STSv1", "mode: testing", "mx: *.mail.example.com", "max_age: 86400"];
const TLSA = ["3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"];

function count(over: Partial<TlsResult> = {}, sessions = 1): ResultCount {
  const c = countOf({
    domain: "example.com",
    policy: { type: "sts", strings: STS },
    outcome: "success",
    at: T,
    ...over,
  })!;
  return { ...c, sessions };
}

const meta = {
  organizationName: "Ferry Test Org",
  contactInfo: "postmaster@sender.test",
  reportId: reportIdFor(DAY, "example.com", "sender.test"),
  day: DAY,
  policyDomain: "example.com",
};

const COUNTS: ResultCount[] = [
  count({}, 40),
  count({
    outcome: {
      failure: "certificate-expired",
      sendingMtaIp: "198.51.100.7",
      receivingMxHostname: "mx1.mail.example.com",
      receivingIp: "192.0.2.1",
      failureReasonCode: "certificate expired 2026-02-28",
    },
  }, 3),
  count({ outcome: { failure: "starttls-not-supported", receivingIp: "192.0.2.2" } }, 5),
  count({
    policy: { type: "tlsa", strings: TLSA, mxHost: "mx2.mail.example.com" },
    outcome: { failure: "tlsa-invalid", receivingMxHostname: "mx2.mail.example.com" },
  }, 2),
  count({ policy: { type: "tlsa", strings: TLSA, mxHost: "mx2.mail.example.com" } }, 7),
  // Another domain's and another day's counters do not belong in this report.
  count({ domain: "other.test" }, 100),
  count({ at: T + 86_400_000 }, 100),
];

Deno.test("buildTlsReport() makes one policy entry per policy, with counts and failures", () => {
  const report = buildTlsReport(meta, COUNTS);
  assert.equal(reportProblem(report), undefined);
  assert.deepEqual(report["date-range"], {
    "start-datetime": "2026-03-01T00:00:00Z",
    "end-datetime": "2026-03-01T23:59:59Z",
  });
  assert.equal(report["report-id"], "2026-03-01.example.com@sender.test");
  assert.equal(report.policies.length, 2);
  const sts = report.policies.find((p) => p.policy["policy-type"] === "sts")!;
  assert.deepEqual(sts.policy, {
    "policy-type": "sts",
    "policy-string": STS,
    "policy-domain": "example.com",
    // §4.4: for MTA-STS, the policy's MX patterns.
    "mx-host": ["*.mail.example.com"],
  });
  assert.deepEqual(sts.summary, {
    "total-successful-session-count": 40,
    "total-failure-session-count": 8,
  });
  // The most frequent failure first.
  assert.deepEqual(sts["failure-details"], [
    {
      "result-type": "starttls-not-supported",
      "receiving-ip": "192.0.2.2",
      "failed-session-count": 5,
    },
    {
      "result-type": "certificate-expired",
      "sending-mta-ip": "198.51.100.7",
      "receiving-mx-hostname": "mx1.mail.example.com",
      "receiving-ip": "192.0.2.1",
      "failed-session-count": 3,
      "failure-reason-code": "certificate expired 2026-02-28",
    },
  ]);
  const tlsa = report.policies.find((p) => p.policy["policy-type"] === "tlsa")!;
  assert.deepEqual(tlsa.policy["mx-host"], ["mx2.mail.example.com"]);
  assert.deepEqual(tlsa.summary, {
    "total-successful-session-count": 7,
    "total-failure-session-count": 2,
  });
});

Deno.test("buildTlsReport(): totals match the failure details and the counters", () => {
  const report = buildTlsReport(meta, COUNTS);
  for (const p of report.policies) {
    const details = (p["failure-details"] ?? []).reduce((n, d) => n + d["failed-session-count"], 0);
    assert.equal(details, p.summary["total-failure-session-count"]);
  }
  const total = report.policies.reduce(
    (n, p) =>
      n + p.summary["total-successful-session-count"] + p.summary["total-failure-session-count"],
    0,
  );
  assert.equal(total, 40 + 3 + 5 + 2 + 7);
});

Deno.test("buildTlsReport() is deterministic: counters in any order give the same bytes", () => {
  const one = JSON.stringify(buildTlsReport(meta, COUNTS));
  const two = JSON.stringify(buildTlsReport(meta, [...COUNTS].reverse()));
  assert.equal(one, two);
  assert.deepEqual(gzipReport(buildTlsReport(meta, COUNTS)), gzipReport(JSON.parse(two)));
});

Deno.test("buildTlsReport(): a domain without policy reports no-policy-found, no strings", () => {
  const report = buildTlsReport(meta, [
    count({ policy: { type: "no-policy-found" } }, 9),
    count({ policy: { type: "no-policy-found" }, outcome: { failure: "starttls-not-supported" } }),
  ]);
  assert.equal(reportProblem(report), undefined);
  assert.deepEqual(report.policies[0]!.policy, {
    "policy-type": "no-policy-found",
    "policy-domain": "example.com",
  });
  assert.deepEqual(report.policies[0]!["failure-details"], [
    { "result-type": "starttls-not-supported", "failed-session-count": 1 },
  ]);
});

Deno.test("buildTlsReport(): only successes, no failure-details key", () => {
  const report = buildTlsReport(meta, [count({}, 3)]);
  assert.equal("failure-details" in report.policies[0]!, false);
  assert.equal(reportProblem(report), undefined);
});

Deno.test("gzipReport() compresses the JSON (RFC 8460 §5.2)", () => {
  const report = buildTlsReport(meta, COUNTS);
  const gz = gzipReport(report);
  assert.deepEqual([gz[0], gz[1]], [0x1f, 0x8b]);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(gunzipSync(gz))), report);
});

Deno.test("reportFileName() follows RFC 8460 §5.1", () => {
  const begin = Date.UTC(2026, 2, 1) / 1000;
  assert.equal(
    reportFileName("sender.test", "example.com", DAY),
    `sender.test!example.com!${begin}!${begin + 86_399}.json.gz`,
  );
  assert.equal(
    reportFileName("sender.test", "example.com", DAY, "001"),
    `sender.test!example.com!${begin}!${begin + 86_399}!001.json.gz`,
  );
  assert.throws(() => reportFileName("sender.test", "example.com", DAY, "a-b"));
});

/** RFC 8460 Appendix B's example report, its mx-host an array as the verified erratum has it. */
const RFC_EXAMPLE = {
  "organization-name": "Company-X",
  "date-range": {
    "start-datetime": "2016-04-01T00:00:00Z",
    "end-datetime": "2016-04-01T23:59:59Z",
  },
  "contact-info": "sts-reporting@company-x.example",
  "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
  "policies": [{
    "policy": {
      "policy-type": "sts",
      "policy-string": [
        "version: STSv1",
        "mode: testing",
        "mx: *.mail.company-y.example",
        "max_age: 86400",
      ],
      "policy-domain": "company-y.example",
      "mx-host": ["*.mail.company-y.example"],
    },
    "summary": {
      "total-successful-session-count": 5326,
      "total-failure-session-count": 303,
    },
    "failure-details": [{
      "result-type": "certificate-expired",
      "sending-mta-ip": "2001:db8:abcd:0012::1",
      "receiving-mx-hostname": "mx1.mail.company-y.example",
      "failed-session-count": 100,
    }, {
      "result-type": "starttls-not-supported",
      "sending-mta-ip": "2001:db8:abcd:0013::1",
      "receiving-mx-hostname": "mx2.mail.company-y.example",
      "receiving-ip": "203.0.113.56",
      "failed-session-count": 200,
      "additional-information":
        "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported",
    }, {
      "result-type": "validation-failure",
      "sending-mta-ip": "198.51.100.62",
      "receiving-ip": "203.0.113.58",
      "receiving-mx-hostname": "mx-backup.mail.company-y.example",
      "failed-session-count": 3,
      "failure-reason-code": "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED",
    }],
  }],
};

Deno.test("the schema accepts RFC 8460 Appendix B's example report", () => {
  assert.equal(reportProblem(RFC_EXAMPLE), undefined);
  assert.ok(tlsReportSchema.safeParse(RFC_EXAMPLE).success);
});

Deno.test("the schema refuses what §4.4 does not allow", () => {
  const policy = RFC_EXAMPLE.policies[0]!;
  const broken: [string, unknown][] = [
    ["a misspelt key", { ...RFC_EXAMPLE, "organisation-name": "x" }],
    ["no report-id", { ...RFC_EXAMPLE, "report-id": undefined }],
    ["a date without zone", {
      ...RFC_EXAMPLE,
      "date-range": {
        "start-datetime": "2016-04-01T00:00:00",
        "end-datetime": "2016-04-01T23:59:59Z",
      },
    }],
    ["no policies", { ...RFC_EXAMPLE, policies: [] }],
    ["an unknown policy type", {
      ...RFC_EXAMPLE,
      policies: [{ ...policy, policy: { ...policy.policy, "policy-type": "dane" } }],
    }],
    ["mx-host as a string", {
      ...RFC_EXAMPLE,
      policies: [{
        ...policy,
        policy: { ...policy.policy, "mx-host": "*.mail.company-y.example" },
      }],
    }],
    ["a negative count", {
      ...RFC_EXAMPLE,
      policies: [{ ...policy, summary: { ...policy.summary, "total-failure-session-count": -1 } }],
    }],
    ["a fractional count", {
      ...RFC_EXAMPLE,
      policies: [{ ...policy, summary: { ...policy.summary, "total-failure-session-count": 1.5 } }],
    }],
    ["an unknown result type", {
      ...RFC_EXAMPLE,
      policies: [{
        ...policy,
        "failure-details": [{ "result-type": "certificate-revoked", "failed-session-count": 1 }],
      }],
    }],
    ["a failure without its count", {
      ...RFC_EXAMPLE,
      policies: [{ ...policy, "failure-details": [{ "result-type": "certificate-expired" }] }],
    }],
    ["a receiving-ip that is not one", {
      ...RFC_EXAMPLE,
      policies: [{
        ...policy,
        "failure-details": [{
          "result-type": "certificate-expired",
          "receiving-ip": "mx1",
          "failed-session-count": 1,
        }],
      }],
    }],
  ];
  for (const [what, report] of broken) {
    assert.notEqual(reportProblem(JSON.parse(JSON.stringify(report))), undefined, what);
  }
});
