/**
 * The TLS-RPT tables (migration 0007): counters every instance increments, the days and domains
 * still to report, report rows that make each report go out once, the mail's outbox row.
 */
import assert from "node:assert/strict";
import {
  addTlsRptResults,
  claimDueTlsRptPosts,
  claimTlsRptPost,
  enqueueTlsRptMail,
  finishTlsRptPost,
  noteTlsRptNoRecord,
  purgeTlsRpt,
  type TlsRptCount,
  tlsRptCountsFor,
  tlsRptDomainsToReport,
  tlsRptPendingDays,
  tlsRptReportsOf,
} from "../../db/tls_rpt.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";

const NOW = new Date(Date.UTC(2026, 2, 2, 1));

function counter(over: Partial<TlsRptCount> = {}): TlsRptCount {
  return {
    day: "2026-03-01",
    policyDomain: "example.com",
    policyType: "sts",
    policyHash: "ab".repeat(32),
    policyStrings: ["version: STSv1", "mode: enforce", "mx: mx.example.com", "max_age: 86400"],
    mxHost: "",
    resultType: "success",
    sendingMtaIp: "",
    receivingMxHostname: "",
    receivingMxHelo: "",
    receivingIp: "",
    additionalInfo: "",
    failureReasonCode: "",
    sessions: 1,
    ...over,
  };
}

const FAILURE = counter({
  resultType: "certificate-expired",
  receivingIp: "192.0.2.1",
  receivingMxHostname: "mx.example.com",
});

const key = (rua: string, policyDomain = "example.com") => ({
  day: "2026-03-01",
  policyDomain,
  rua,
  reportId: `2026-03-01.${policyDomain}@sender.test`,
  report: new Uint8Array([0x1f, 0x8b, 1, 2, 3]),
});

Deno.test("addTlsRptResults() creates counters, then adds to them", async () => {
  await using t = await testDatabase();
  await addTlsRptResults(t.db, [counter({ sessions: 3 }), FAILURE]);
  await addTlsRptResults(t.db, [counter({ sessions: 2 }), FAILURE, { ...FAILURE, sessions: 4 }]);
  const rows = await tlsRptCountsFor(t.db, "2026-03-01", "example.com");
  const by = Object.fromEntries(rows.map((r) => [r.resultType, r]));
  assert.equal(by.success!.sessions, 5);
  assert.equal(by["certificate-expired"]!.sessions, 6);
  // A date column reads back as the day it is, not as an instant.
  assert.equal(by.success!.day, "2026-03-01");
  assert.deepEqual(by.success!.policyStrings, counter().policyStrings);
  assert.deepEqual(await tlsRptCountsFor(t.db, "2026-03-02", "example.com"), []);
});

Deno.test({
  name: "two instances incrementing the same counters at once lose no session, never deadlock",
  ignore: serverOnly,
  async fn() {
    await using t = await testDatabase();
    const other = await t.reopen();
    const domains = ["a.test", "b.test", "c.test", "d.test"];
    // Each write touches every counter, in an order of its own: without one lock order, two
    // such statements would deadlock.
    const write = (db: typeof t.db, i: number) =>
      addTlsRptResults(
        db,
        (i % 2 ? domains : [...domains].reverse()).flatMap((d) => [
          counter({ policyDomain: d }),
          { ...FAILURE, policyDomain: d, sessions: 2 },
        ]),
      );
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => write(i % 2 ? t.db : other.db, i)),
    );
    for (const d of domains) {
      const rows = await tlsRptCountsFor(t.db, "2026-03-01", d);
      const by = Object.fromEntries(rows.map((r) => [r.resultType, r.sessions]));
      assert.deepEqual(by, { success: 40, "certificate-expired": 80 }, d);
    }
  },
});

Deno.test("pending days and domains are those with counters and no report row yet", async () => {
  await using t = await testDatabase();
  await addTlsRptResults(t.db, [
    counter(),
    counter({ policyDomain: "other.test" }),
    counter({ day: "2026-02-27" }),
    counter({ day: "2026-03-02" }),
  ]);
  assert.deepEqual(await tlsRptPendingDays(t.db, "2026-02-28", "2026-03-02"), ["2026-03-01"]);
  assert.deepEqual(await tlsRptDomainsToReport(t.db, "2026-03-01"), ["example.com", "other.test"]);
  await noteTlsRptNoRecord(t.db, {
    day: "2026-03-01",
    policyDomain: "other.test",
    reason: "no TXT record",
    now: NOW,
  });
  assert.deepEqual(await tlsRptDomainsToReport(t.db, "2026-03-01"), ["example.com"]);
  await enqueueTlsRptMail(t.db, key("mailto:tlsrpt@example.com"), {
    from: "tlsrpt@sender.test",
    to: ["tlsrpt@example.com"],
    raw: new TextEncoder().encode("From: tlsrpt@sender.test\r\n\r\nx\r\n"),
  }, NOW);
  assert.deepEqual(await tlsRptDomainsToReport(t.db, "2026-03-01"), []);
  assert.deepEqual(await tlsRptPendingDays(t.db, "2026-02-28", "2026-03-02"), []);
});

Deno.test("enqueueTlsRptMail() queues the report once: one outbox row, one report row", async () => {
  await using t = await testDatabase();
  const raw = new TextEncoder().encode(
    "From: tlsrpt@sender.test\r\nTo: r@example.com\r\n\r\nx\r\n",
  );
  const mail = { from: "tlsrpt@sender.test", to: ["r@example.com"], raw };
  const id = await enqueueTlsRptMail(t.db, key("mailto:r@example.com"), mail, NOW);
  assert.equal(typeof id, "number");
  assert.equal(await enqueueTlsRptMail(t.db, key("mailto:r@example.com"), mail, NOW), undefined);
  const outbox = await t.db.selectFrom("ferry.outbox").selectAll().execute();
  assert.equal(outbox.length, 1);
  assert.equal(Number(outbox[0]!.id), id);
  assert.equal(outbox[0]!.from_address, "tlsrpt@sender.test");
  assert.deepEqual(outbox[0]!.to_addresses, ["r@example.com"]);
  assert.deepEqual(new Uint8Array(outbox[0]!.raw_message!), raw);
  assert.equal(outbox[0]!.priority, 2);
  assert.equal(+new Date(outbox[0]!.expires_at!), +NOW + 86_400_000);
  assert.deepEqual(outbox[0]!.metadata, {
    ferry: "tls-rpt",
    report_id: "2026-03-01.example.com@sender.test",
    policy_domain: "example.com",
  });
  const [report] = await tlsRptReportsOf(t.db, "2026-03-01");
  assert.equal(report!.status, "sent");
  assert.equal(Number(report!.outbox_id), id);
  assert.deepEqual(new Uint8Array(report!.report!), key("").report);
});

Deno.test("claimTlsRptPost() claims a report once; finishTlsRptPost() needs the claimer", async () => {
  await using t = await testDatabase();
  const o = { owner: "i1", now: NOW, leaseMs: 60_000 };
  const claim = await claimTlsRptPost(t.db, key("https://r.example.com/"), o);
  assert.ok(claim);
  assert.equal(claim.attempts, 0);
  assert.deepEqual(claim.report, key("").report);
  assert.equal(
    await claimTlsRptPost(t.db, key("https://r.example.com/"), { ...o, owner: "i2" }),
    undefined,
  );
  assert.equal(await finishTlsRptPost(t.db, claim.id, "i2", { kind: "sent" }, NOW), false);
  assert.equal(await finishTlsRptPost(t.db, claim.id, "i1", { kind: "sent" }, NOW), true);
  const [row] = await tlsRptReportsOf(t.db, "2026-03-01");
  assert.equal(row!.status, "sent");
  assert.equal(row!.attempts, 1);
  assert.equal(row!.owner, null);
});

Deno.test("claimDueTlsRptPosts() takes retries when due, and claims whose holder died", async () => {
  await using t = await testDatabase();
  const o = { owner: "i1", now: NOW, leaseMs: 60_000 };
  const a = (await claimTlsRptPost(t.db, key("https://a.example.com/"), o))!;
  const b = (await claimTlsRptPost(t.db, key("https://b.example.com/"), o))!;
  const at = new Date(+NOW + 300_000);
  await finishTlsRptPost(t.db, a.id, "i1", { kind: "retry", at, error: "HTTP 503" }, NOW);
  const due = (now: Date, owner = "i2") =>
    claimDueTlsRptPosts(t.db, { owner, now, leaseMs: 60_000, limit: 10 });
  // Not yet: a's retry is in 5 minutes, b is held by i1.
  assert.deepEqual(await due(new Date(+NOW + 1000)), []);
  // b's claim ran out (i1 died); a's retry is not due yet.
  assert.deepEqual((await due(new Date(+NOW + 61_000))).map((c) => c.id), [b.id]);
  await finishTlsRptPost(t.db, b.id, "i2", { kind: "sent" }, new Date(+NOW + 62_000));
  const retried = await due(at);
  assert.deepEqual(retried.map((c) => [c.id, c.attempts]), [[a.id, 1]]);
  // Claimed now by i2: nobody else takes it until its lease ends.
  assert.deepEqual(await due(at, "i3"), []);
  await finishTlsRptPost(t.db, a.id, "i2", { kind: "failed", error: "gave up" }, at);
  const rows = await tlsRptReportsOf(t.db, "2026-03-01");
  assert.deepEqual(rows.map((r) => [r.rua, r.status, r.attempts, r.last_error]), [
    ["https://a.example.com/", "failed", 2, "gave up"],
    ["https://b.example.com/", "sent", 1, null],
  ]);
});

Deno.test("purgeTlsRpt() deletes counters and reports of the days before", async () => {
  await using t = await testDatabase();
  await addTlsRptResults(t.db, [counter({ day: "2026-01-01" }), counter()]);
  await noteTlsRptNoRecord(t.db, {
    day: "2026-01-01",
    policyDomain: "example.com",
    reason: "none",
    now: NOW,
  });
  assert.deepEqual(await purgeTlsRpt(t.db, "2026-02-01"), { counts: 1, reports: 1 });
  assert.equal((await tlsRptCountsFor(t.db, "2026-03-01", "example.com")).length, 1);
});
