/** The report as a mail message (RFC 8460 §5.3), read back with a MIME parser. */
import assert from "node:assert/strict";
import {
  buildTlsReport,
  composeReportMail,
  countOf,
  gzipReport,
  reportFileName,
  reportIdFor,
  reportProblem,
} from "../../../relay/tls_rpt/mod.ts";
import { rawMessageProblem } from "../../../relay/mime/mod.ts";
import { readReportMail } from "./_report_mail.ts";

const DAY = "2026-03-01";

function mail(over: { from?: string; to?: string[] } = {}) {
  const report = buildTlsReport({
    organizationName: "Ferry Test Org",
    contactInfo: "postmaster@sender.test",
    reportId: reportIdFor(DAY, "example.net", "sender.test"),
    day: DAY,
    policyDomain: "example.net",
  }, [
    countOf({
      domain: "example.net",
      policy: { type: "no-policy-found" },
      outcome: "success",
      at: Date.UTC(2026, 2, 1, 3),
    })!,
  ]);
  const bytes = composeReportMail({
    from: over.from ?? "TLS reports <tlsrpt@sender.test>",
    to: over.to ?? ["tlsrpt@example.net"],
    submitter: "sender.test",
    organizationName: "Ferry Test Org",
    policyDomain: "example.net",
    reportId: report["report-id"],
    day: DAY,
    fileName: reportFileName("sender.test", "example.net", DAY),
    gzip: gzipReport(report),
    successes: 1,
    failures: 0,
  });
  return { report, bytes };
}

Deno.test("the report mail is a multipart/report with the gzip report attached (§5.3)", async () => {
  const { report, bytes } = mail();
  const read = await readReportMail(bytes);
  assert.deepEqual(read.json, report);
  assert.equal(reportProblem(read.json), undefined);
  const begin = Date.UTC(2026, 2, 1) / 1000;
  assert.equal(read.fileName, `sender.test!example.net!${begin}!${begin + 86_399}.json.gz`);
  assert.equal(
    read.mail.subject,
    `Report Domain: example.net Submitter: sender.test ` +
      `Report-ID: <2026-03-01.example.net@sender.test>`,
  );
  assert.equal(read.mail.headers.get("tls-report-domain"), "example.net");
  assert.equal(read.mail.headers.get("tls-report-submitter"), "sender.test");
  assert.equal(read.mail.headers.get("auto-submitted"), "auto-generated");
  assert.match(read.mail.text ?? "", /aggregate TLS report \(RFC 8460\)/);
});

Deno.test("the report mail passes the relay's raw-message checks: CRLF, short lines", () => {
  const { bytes } = mail();
  assert.equal(rawMessageProblem(bytes), undefined);
  const text = new TextDecoder().decode(bytes);
  assert.ok(!/[^\r]\n/.test(text), "every line ends in CRLF");
  // The Subject is folded where §5.3's FWS allows it.
  assert.match(
    text,
    /\r\nSubject: Report Domain: example\.net\r\n Submitter: sender\.test\r\n Report-ID: </,
  );
  for (const line of text.split("\r\n")) {
    assert.ok(line.length <= 998);
    if (!line.includes("!1772323200!")) assert.ok(line.length <= 78, line);
  }
});

Deno.test("the report mail refuses header injection through From or To", () => {
  assert.throws(
    () => mail({ from: "a@sender.test\r\nBcc: victim@example.org" }),
    /printable ASCII/,
  );
  assert.throws(() => mail({ to: ["a@example.net\nX: y"] }), /printable ASCII/);
});
