/**
 * The sink the deliverer calls: results counted per day, policy and outcome in memory, written
 * in batches while the previous write is in flight, bounded by distinct counters.
 */
import assert from "node:assert/strict";
import { type TlsFailureType, tlsFailureType } from "../../../relay/tls/mod.ts";
import {
  countOf,
  FAILURE_TYPES,
  type FailureType,
  isTlsReportMail,
  type ResultCount,
  stsPolicyStrings,
  type TlsResult,
  TlsResultBatcher,
  utcDay,
} from "../../../relay/tls_rpt/mod.ts";

const T = Date.UTC(2026, 2, 1, 12);
const STS = ["version: STSv1", "mode: enforce", "mx: mx.example.com", "max_age: 86400"];

function success(over: Partial<TlsResult> = {}): TlsResult {
  return {
    domain: "example.com",
    policy: { type: "sts", strings: STS },
    outcome: "success",
    at: T,
    ...over,
  };
}

function failure(failure: "certificate-expired" | "starttls-not-supported", ip = "192.0.2.1") {
  return success({ outcome: { failure, receivingIp: ip, receivingMxHostname: "mx.example.com" } });
}

/** A store that holds each write until the test lets it go. */
class GatedStore {
  readonly writes: ResultCount[][] = [];
  #gates: { resolve: () => void; reject: (e: Error) => void }[] = [];
  add(counts: readonly ResultCount[]): Promise<void> {
    this.writes.push(counts.map((c) => ({ ...c })));
    return new Promise((resolve, reject) => this.#gates.push({ resolve, reject }));
  }
  release(): void {
    this.#gates.shift()?.resolve();
  }
  fail(message: string): void {
    this.#gates.shift()?.reject(new Error(message));
  }
}

const sessions = (counts: readonly ResultCount[]) =>
  Object.fromEntries(counts.map((c) => [`${c.day} ${c.resultType} ${c.receivingIp}`, c.sessions]));

Deno.test("countOf() keys a result by UTC day, policy and outcome, in A-labels", () => {
  const c = countOf({ ...failure("certificate-expired"), domain: "BÜCHER.example." })!;
  assert.equal(c.day, "2026-03-01");
  assert.equal(c.policyDomain, "xn--bcher-kva.example");
  assert.equal(c.resultType, "certificate-expired");
  assert.equal(c.receivingIp, "192.0.2.1");
  assert.match(c.policyHash, /^[0-9a-f]{64}$/);
  assert.equal(countOf(success({ at: Date.UTC(2026, 2, 1, 23, 59, 59, 999) }))!.day, "2026-03-01");
  assert.equal(countOf(success({ at: Date.UTC(2026, 2, 2) }))!.day, "2026-03-02");
  assert.equal(countOf(success({ domain: "not a domain" })), undefined);
  assert.equal(utcDay(0), "1970-01-01");
});

Deno.test("countOf() leaves out details the report's schema would refuse, and caps text", () => {
  const c = countOf(success({
    outcome: {
      failure: "validation-failure",
      sendingMtaIp: "not-an-ip",
      receivingIp: "2001:DB8::1",
      additionalInfo: "no uri",
      failureReasonCode: `alert\r\nInjected: yes ${"x".repeat(1000)}`,
      receivingMxHelo: "MX.Example.COM.",
    },
  }))!;
  assert.equal(c.sendingMtaIp, "");
  assert.equal(c.receivingIp, "2001:db8::1");
  assert.equal(c.additionalInfo, "");
  assert.equal(c.receivingMxHelo, "mx.example.com");
  assert.ok(!/[\r\n]/.test(c.failureReasonCode));
  assert.ok(c.failureReasonCode.length <= 400);
  // A success keeps no failure details, whatever it is given.
  assert.equal(countOf(success())!.receivingIp, "");
});

Deno.test("the first result is written at once; those during the write go in the next", async () => {
  const store = new GatedStore();
  const sink = new TlsResultBatcher(store);
  sink.record(success());
  assert.equal(store.writes.length, 1);
  for (let i = 0; i < 5; i++) sink.record(success());
  sink.record(failure("certificate-expired"));
  sink.record(failure("certificate-expired"));
  sink.record(failure("certificate-expired", "192.0.2.2"));
  sink.record(success({ at: T + 86_400_000 }));
  assert.equal(sink.held, 4, "the same counter takes many sessions");
  store.release();
  const flushed = sink.flush();
  await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
  store.release();
  await flushed;
  assert.deepEqual(sessions(store.writes[0]!), { "2026-03-01 success ": 1 });
  assert.deepEqual(sessions(store.writes[1]!), {
    "2026-03-01 success ": 5,
    "2026-03-01 certificate-expired 192.0.2.1": 2,
    "2026-03-01 certificate-expired 192.0.2.2": 1,
    "2026-03-02 success ": 1,
  });
});

Deno.test("beyond maxHeld counters, new ones are dropped; known ones still count", async () => {
  const store = new GatedStore();
  const dropped: [number, string][] = [];
  const sink = new TlsResultBatcher(store, {
    maxHeld: 2,
    dropped: (n, why) => dropped.push([n, why]),
  });
  sink.record(success()); // in flight
  sink.record(failure("certificate-expired", "192.0.2.1"));
  sink.record(failure("certificate-expired", "192.0.2.2"));
  sink.record(failure("certificate-expired", "192.0.2.3"));
  sink.record(failure("certificate-expired", "192.0.2.1"));
  assert.equal(sink.held, 2);
  assert.deepEqual(dropped, [[1, "more than 2 counters held"]]);
  store.release();
  await new Promise((r) => setTimeout(r, 0));
  store.release();
  await sink.flush();
  assert.deepEqual(sessions(store.writes[1]!), {
    "2026-03-01 certificate-expired 192.0.2.1": 2,
    "2026-03-01 certificate-expired 192.0.2.2": 1,
  });
});

Deno.test("a failed write is retried when `retry` says so, merged with what came since", async () => {
  const store = new GatedStore();
  let retries = 0;
  const sink = new TlsResultBatcher(store, { retry: () => Promise.resolve(++retries === 1) });
  sink.record(success());
  sink.record(success()); // held during the failing write
  store.fail("connection refused");
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(store.writes.length, 2);
  assert.deepEqual(sessions(store.writes[1]!), { "2026-03-01 success ": 2 });
  store.release();
  await sink.flush();
  assert.equal(retries, 1);
});

Deno.test("a failed write is dropped, and said so, when `retry` declines", async () => {
  const store = new GatedStore();
  const dropped: [number, string][] = [];
  const sink = new TlsResultBatcher(store, { dropped: (n, why) => dropped.push([n, why]) });
  sink.record(failure("starttls-not-supported"));
  store.fail("disk full");
  await sink.flush();
  assert.deepEqual(dropped, [[1, "disk full"]]);
  assert.equal(sink.held, 0);
});

Deno.test("record() never throws, even for a result that is not one", () => {
  const dropped: number[] = [];
  const sink = new TlsResultBatcher({ add: () => Promise.resolve() }, {
    dropped: (n) => dropped.push(n),
  });
  sink.record({ domain: "", policy: { type: "no-policy-found" }, outcome: "success", at: T });
  sink.record(null as unknown as TlsResult);
  assert.deepEqual(dropped, [1, 1]);
});

Deno.test("stsPolicyStrings() writes an MTA-STS policy's lines as RFC 8461 §3.2 does", () => {
  assert.deepEqual(
    stsPolicyStrings({ mode: "enforce", mx: ["mx.example.com", "*.example.net"], maxAge: 86400 }),
    [
      "version: STSv1",
      "mode: enforce",
      "mx: mx.example.com",
      "mx: *.example.net",
      "max_age: 86400",
    ],
  );
});

Deno.test("isTlsReportMail() recognises the report mails' outbox metadata", () => {
  assert.equal(isTlsReportMail({ ferry: "tls-rpt", report_id: "x" }), true);
  assert.equal(isTlsReportMail({ ferry: "other" }), false);
  assert.equal(isTlsReportMail(null), false);
});

Deno.test("each TLS failure relay/tls names is a result type the sink takes", () => {
  // A compile-time check first: the SMTP layer's failure type is assignable to the port's.
  const fromTls = (t: TlsFailureType): FailureType => t;
  for (
    const message of [
      "invalid peer certificate: Expired",
      "invalid peer certificate: NotValidForName",
      "invalid peer certificate: UnknownIssuer",
      "received fatal alert: HandshakeFailure",
    ]
  ) {
    assert.ok(FAILURE_TYPES.includes(fromTls(tlsFailureType(message))), message);
  }
});
