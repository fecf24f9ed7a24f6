/**
 * Reading a TLS report mail back as a receiver would (RFC 8460 §5.3): the multipart/report, its
 * application/tlsrpt+gzip attachment, decompressed and parsed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { gunzipSync } from "node:zlib";
import { simpleParser } from "mailparser";

export interface ReadReport {
  readonly mail: Awaited<ReturnType<typeof simpleParser>>;
  readonly fileName: string;
  readonly json: unknown;
}

export async function readReportMail(bytes: Uint8Array): Promise<ReadReport> {
  const mail = await simpleParser(Buffer.from(bytes));
  const type = mail.headers.get("content-type") as {
    value: string;
    params: Record<string, string>;
  };
  assert.equal(type.value, "multipart/report");
  assert.equal(type.params["report-type"], "tlsrpt");
  type Part = {
    contentType: string;
    contentDisposition?: string;
    filename?: string;
    content: Uint8Array;
  };
  const parts = mail.attachments as Part[];
  const reports = parts.filter((a) => a.contentType === "application/tlsrpt+gzip");
  assert.equal(reports.length, 1, "one application/tlsrpt+gzip attachment");
  const report = reports[0]!;
  assert.equal(report.contentDisposition, "attachment");
  const json = JSON.parse(new TextDecoder().decode(gunzipSync(report.content)));
  return { mail, fileName: report.filename ?? "", json };
}
