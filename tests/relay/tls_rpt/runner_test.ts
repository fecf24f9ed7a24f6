/**
 * The daily report loop over PostgreSQL (the real store adapters): results recorded through the
 * sink, reports built at `sendHour` the next day, sent by mail through Ferry's own outbox or by
 * HTTPS POST with retries, once per day and domain across instances. DNS is a fake zone, the
 * HTTPS POST a recording function (tests/relay/tls_rpt/https_post_test.ts has the real one),
 * time a fake clock.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { gunzipSync } from "node:zlib";
import type { Db } from "../../../db/client.ts";
import { loadMessage } from "../../../db/messages.ts";
import { tlsRptReportsOf } from "../../../db/tls_rpt.ts";
import { MessageSource } from "../../../relay/adapters/message_source.ts";
import { pgTlsReportStore, pgTlsResultStore } from "../../../relay/adapters/tls_rpt_store.ts";
import { createDkimSigner } from "../../../relay/dkim/mod.ts";
import {
  isTlsReportMail,
  nextSendTime,
  type PostReport,
  reportProblem,
  runTlsReportPass,
  runTlsReports,
  type TlsReport,
  type TlsReportsOptions,
  type TlsResult,
  TlsResultBatcher,
  type TlsRptLogLine,
} from "../../../relay/tls_rpt/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver, type FakeZoneEntry } from "../../_fakes/fake_resolver.ts";
import { serverOnly, testDatabase } from "../../_support/db.ts";
import { readReportMail } from "./_report_mail.ts";

const HOUR = 3_600_000;
const DAY = "2026-03-01";
const AT = Date.UTC(2026, 2, 1, 10);
/** sendHour 1: the day's reports are due at 01:00 UTC the next day. */
const DUE = Date.UTC(2026, 2, 2, 1);
const STS = ["version: STSv1", "mode: enforce", "mx: mx.example.com", "max_age: 86400"];
const CONFIG = {
  organizationName: "Ferry Test Org",
  contact: "postmaster@sender.test",
  from: "TLS reports <tlsrpt@sender.test>",
  submitter: "sender.test",
  sendHour: 1,
  retention: 30 * 24 * HOUR,
};

const ZONE: Record<string, FakeZoneEntry> = {
  "_smtp._tls.example.com": { txt: ["v=TLSRPTv1; rua=mailto:tlsrpt@example.com"] },
  "_smtp._tls.web.test": { txt: ["v=TLSRPTv1; rua=https://reports.web.test/v1/tlsrpt"] },
  "_smtp._tls.both.test": {
    txt: ["v=TLSRPTv1; rua=mailto:a@both.test,https://reports.both.test/in"],
  },
};

interface Harness {
  readonly clock: FakeClock;
  readonly sink: TlsResultBatcher;
  readonly posts: { url: string; report: TlsReport }[];
  readonly logs: TlsRptLogLine[];
  readonly resolver: FakeResolver;
  readonly options: TlsReportsOptions;
  /** What the POST answers next (default: 200). */
  answer: (url: string) => Awaited<ReturnType<PostReport>>;
}

function harness(
  db: Db,
  o: { instance?: string; clock?: FakeClock; posts?: Harness["posts"] } = {},
) {
  const clock = o.clock ?? new FakeClock(AT);
  const posts = o.posts ?? [];
  const logs: TlsRptLogLine[] = [];
  const resolver = new FakeResolver(ZONE);
  const h: Harness = {
    clock,
    sink: new TlsResultBatcher(pgTlsResultStore(db)),
    posts,
    logs,
    resolver,
    answer: () => ({ ok: true }),
    options: undefined as unknown as TlsReportsOptions,
  };
  const post: PostReport = (url, gzip) => {
    posts.push({ url, report: JSON.parse(new TextDecoder().decode(gunzipSync(gzip))) });
    return Promise.resolve(h.answer(url));
  };
  Object.assign(h, {
    options: {
      clock,
      store: pgTlsReportStore(db),
      resolver,
      post,
      config: CONFIG,
      instance: o.instance ?? "i1",
      log: (l: TlsRptLogLine) => logs.push(l),
    },
  });
  return h;
}

function result(domain: string, over: Partial<TlsResult> = {}): TlsResult {
  return { domain, policy: { type: "sts", strings: STS }, outcome: "success", at: AT, ...over };
}

async function recordDay(h: Harness, domains: readonly string[]): Promise<void> {
  for (const d of domains) {
    for (let i = 0; i < 3; i++) h.sink.record(result(d));
    h.sink.record(result(d, {
      outcome: { failure: "certificate-expired", receivingMxHostname: "mx.example.com" },
    }));
  }
  await h.sink.flush();
}

Deno.test("reports are due at sendHour the next day, and mailed through the outbox", async () => {
  await using t = await testDatabase();
  const h = harness(t.db);
  await recordDay(h, ["example.com"]);
  await h.clock.advance(DUE - 1 - AT);
  assert.equal((await runTlsReportPass(h.options)).mailed, 0, "not before sendHour");
  await h.clock.advance(1);
  const pass = await runTlsReportPass(h.options);
  assert.deepEqual(pass, { days: [DAY], mailed: 1, posted: 0, failedPosts: 0 });
  assert.equal((await runTlsReportPass(h.options)).mailed, 0, "once");
  const [row] = await tlsRptReportsOf(t.db, DAY, "example.com");
  assert.equal(row!.status, "sent");
  assert.equal(row!.rua, "mailto:tlsrpt@example.com");
  const outbox = await t.db.selectFrom("ferry.outbox").select("metadata")
    .where("id", "=", Number(row!.outbox_id)).executeTakeFirstOrThrow();
  assert.ok(isTlsReportMail(outbox.metadata), "the deliverer can tell a report mail");
  const sent = h.logs.find((l) => l.event === "tlsrpt.sent");
  assert.deepEqual(sent, {
    event: "tlsrpt.sent",
    day: DAY,
    domain: "example.com",
    rua: "mailto:tlsrpt@example.com",
    via: "mail",
    reportId: "2026-03-01.example.com@sender.test",
    outboxId: Number(row!.outbox_id),
  });
});

Deno.test("the mailed report, composed and DKIM-signed by the relay, carries the valid JSON", async () => {
  await using t = await testDatabase();
  const h = harness(t.db, { clock: new FakeClock(DUE) });
  for (let i = 0; i < 4; i++) h.sink.record(result("example.com"));
  h.sink.record(result("example.com", {
    outcome: {
      failure: "starttls-not-supported",
      receivingMxHostname: "mx.example.com",
      receivingIp: "192.0.2.25",
    },
  }));
  await h.sink.flush();
  await runTlsReportPass(h.options);
  const [row] = await tlsRptReportsOf(t.db, DAY, "example.com");
  const key = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" });
  const source = new MessageSource({
    load: (id) => loadMessage(t.db, id),
    clock: h.clock,
    messageIdDomain: "relay.sender.test",
    signer: createDkimSigner({
      keys: [{
        domain: "sender.test",
        selector: "s1",
        algorithm: "ed25519-sha256",
        privateKey: key.toString(),
      }],
      clock: h.clock,
    }),
  });
  const ready = await source.get(Number(row!.outbox_id));
  assert.equal(ready.kind, "ready");
  if (ready.kind !== "ready") return;
  assert.equal(ready.sender, "tlsrpt@sender.test");
  const read = await readReportMail(ready.bytes);
  assert.equal(reportProblem(read.json), undefined);
  const report = read.json as TlsReport;
  assert.equal(report["organization-name"], "Ferry Test Org");
  assert.equal(report["contact-info"], "postmaster@sender.test");
  assert.deepEqual(report.policies[0]!.summary, {
    "total-successful-session-count": 4,
    "total-failure-session-count": 1,
  });
  assert.deepEqual(report.policies[0]!["failure-details"], [{
    "result-type": "starttls-not-supported",
    "receiving-mx-hostname": "mx.example.com",
    "receiving-ip": "192.0.2.25",
    "failed-session-count": 1,
  }]);
  const begin = Date.UTC(2026, 2, 1) / 1000;
  assert.equal(read.fileName, `sender.test!example.com!${begin}!${begin + 86_399}.json.gz`);
  assert.ok(read.mail.messageId?.endsWith("@relay.sender.test>"));
  // Signed by the From domain's key, the report's own fields under the signature (§5.3).
  const head = new TextDecoder().decode(ready.bytes).split("\r\n\r\n")[0]!;
  const dkim = /^DKIM-Signature:(.*(?:\r\n[ \t].*)*)/m.exec(head)?.[1] ?? "";
  assert.match(dkim, /d=sender\.test/);
  const signed = /h=([^;]+)/.exec(dkim.replace(/\s+/g, ""))![1]!.toLowerCase().split(":");
  assert.ok(signed.includes("tls-report-domain") && signed.includes("tls-report-submitter"));
});

Deno.test("an https: rua gets a POST; failures are retried with backoff for 24 hours", async () => {
  await using t = await testDatabase();
  const h = harness(t.db);
  await recordDay(h, ["web.test"]);
  h.answer = () => ({ ok: false, reason: "POST https://reports.web.test/v1/tlsrpt: HTTP 503" });
  await h.clock.advance(DUE - AT);
  assert.equal((await runTlsReportPass(h.options)).failedPosts, 1);
  assert.equal(h.posts.length, 1);
  assert.equal(h.posts[0]!.url, "https://reports.web.test/v1/tlsrpt");
  assert.equal(reportProblem(h.posts[0]!.report), undefined);
  // 5 minutes later the retry is due; 4 minutes later it is not.
  await h.clock.advance(4 * 60_000);
  await runTlsReportPass(h.options);
  assert.equal(h.posts.length, 1);
  await h.clock.advance(60_000);
  await runTlsReportPass(h.options);
  assert.equal(h.posts.length, 2);
  // Every retry sends the same report.
  assert.deepEqual(h.posts[1]!.report, h.posts[0]!.report);
  // Passes every 15 minutes for a day: attempts at +0, 5, 15, 35, 75, 155, 315, 635, 1275 min,
  // and none after 24 hours (the next would be at +2555 min).
  for (let i = 0; i < 4 * 30; i++) {
    await h.clock.advance(15 * 60_000);
    await runTlsReportPass(h.options);
  }
  const [row] = await tlsRptReportsOf(t.db, DAY, "web.test");
  assert.equal(row!.status, "failed");
  assert.equal(row!.attempts, 9);
  assert.equal(h.posts.length, 9);
  const last = h.logs.filter((l) => l.event === "tlsrpt.post_failed").at(-1);
  assert.equal(last?.event === "tlsrpt.post_failed" && last.final, true);
});

Deno.test("a POST that fails once goes through on its retry", async () => {
  await using t = await testDatabase();
  const h = harness(t.db);
  await recordDay(h, ["both.test"]);
  let calls = 0;
  h.answer = () => ++calls === 1 ? { ok: false, reason: "connection reset" } : { ok: true };
  await h.clock.advance(DUE - AT);
  const first = await runTlsReportPass(h.options);
  assert.deepEqual([first.mailed, first.failedPosts], [1, 1]);
  await h.clock.advance(5 * 60_000);
  assert.equal((await runTlsReportPass(h.options)).posted, 1);
  const rows = await tlsRptReportsOf(t.db, DAY, "both.test");
  assert.deepEqual(rows.map((r) => [r.rua, r.status, r.attempts]), [
    ["https://reports.both.test/in", "sent", 2],
    ["mailto:a@both.test", "sent", 1],
  ]);
});

Deno.test("a domain without a record is noted once; a DNS failure is tried again", async () => {
  await using t = await testDatabase();
  const h = harness(t.db);
  await recordDay(h, ["norecord.test", "example.com"]);
  h.resolver.fail("_smtp._tls.example.com", "error");
  await h.clock.advance(DUE - AT);
  assert.equal((await runTlsReportPass(h.options)).mailed, 0);
  assert.deepEqual(h.logs.map((l) => l.event), ["tlsrpt.lookup_failed"]);
  const [none] = await tlsRptReportsOf(t.db, DAY, "norecord.test");
  assert.equal(none!.status, "no-record");
  h.resolver.heal();
  await h.clock.advance(15 * 60_000);
  assert.equal((await runTlsReportPass(h.options)).mailed, 1);
  assert.equal(h.resolver.count("_smtp._tls.norecord.test", "TXT"), 1, "not asked again");
});

Deno.test({
  name: "two instances at once: each day's report goes out once per domain and rua",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    const other = await t.reopen();
    const clock = new FakeClock(AT);
    const posts: Harness["posts"] = [];
    const a = harness(t.db, { instance: "i1", clock, posts });
    const b = harness(other.db, { instance: "i2", clock, posts });
    const domains = ["example.com", "web.test", "both.test"];
    // Both instances delivered to the same domains: their counters add up.
    await Promise.all([recordDay(a, domains), recordDay(b, domains)]);
    await clock.advance(DUE - AT);
    const passes = await Promise.all([
      runTlsReportPass(a.options),
      runTlsReportPass(b.options),
      runTlsReportPass(a.options),
      runTlsReportPass(b.options),
    ]);
    assert.equal(passes.reduce((n, p) => n + p.mailed, 0), 2);
    assert.deepEqual(posts.map((p) => p.url).sort(), [
      "https://reports.both.test/in",
      "https://reports.web.test/v1/tlsrpt",
    ]);
    const outbox = await t.db.selectFrom("ferry.outbox").select("to_addresses").execute();
    assert.deepEqual(outbox.map((r) => r.to_addresses[0]).sort(), [
      "a@both.test",
      "tlsrpt@example.com",
    ]);
    const rows = await tlsRptReportsOf(t.db, DAY);
    assert.equal(rows.length, 4);
    assert.ok(rows.every((r) => r.status === "sent"));
    // The counts of both instances, in one report.
    for (const p of posts) {
      assert.deepEqual(p.report.policies[0]!.summary, {
        "total-successful-session-count": 6,
        "total-failure-session-count": 2,
      });
    }
  },
});

Deno.test("the loop wakes at sendHour on the injected clock, and stops with its signal", async () => {
  await using t = await testDatabase();
  const h = harness(t.db);
  await recordDay(h, ["example.com"]);
  const stop = new AbortController();
  const loop = runTlsReports(h.options, stop.signal);
  // It sleeps in steps of at most 15 minutes: walk the clock along until the report is sent.
  for (;;) {
    await h.clock.untilSleeping();
    if (h.logs.some((l) => l.event === "tlsrpt.sent")) break;
    assert.ok(h.clock.now() < DUE, `not sent by ${new Date(h.clock.now()).toISOString()}`);
    await h.clock.advance(Math.min(15 * 60_000, DUE - h.clock.now()));
  }
  assert.equal(h.clock.now(), DUE);
  stop.abort();
  await loop;
  assert.equal(nextSendTime(Date.UTC(2026, 2, 2, 0, 59), 1), DUE);
  assert.equal(nextSendTime(DUE, 1), DUE + 24 * HOUR);
});

Deno.test("counters and reports older than the retention are purged", async () => {
  await using t = await testDatabase();
  const h = harness(t.db);
  await recordDay(h, ["example.com"]);
  await h.clock.advance(DUE - AT);
  await runTlsReportPass(h.options);
  await h.clock.advance(31 * 24 * HOUR);
  await runTlsReportPass(h.options);
  assert.deepEqual(h.logs.at(-1), { event: "tlsrpt.purged", counts: 2, reports: 1 });
  assert.deepEqual(await tlsRptReportsOf(t.db, DAY), []);
});
