/**
 * The contract every {@link BounceSink} must keep for the processor's "nothing lost, nothing
 * counted twice" guarantee. Run it against the in-memory fake and against the database sink:
 *
 * ```ts ignore
 * bounceSinkContract("PgBounceSink", async () => {
 *   const db = await freshDatabase();
 *   return { sink: new PgBounceSink(db), [Symbol.asyncDispose]: () => db.destroy() };
 * });
 * ```
 */
import assert from "node:assert/strict";
import type { BounceReport } from "../../../relay/bounce_parsing/mod.ts";
import type { BounceRecord, BounceSink } from "../../../relay/bounce_processing/sink.ts";

export interface SinkUnderTest extends AsyncDisposable {
  readonly sink: BounceSink;
}

const REPORT: BounceReport = {
  outcomes: [{
    kind: "bounce",
    recipient: "nobody@example.org",
    status: "5.1.1",
    diagnostic: "550 5.1.1 User unknown",
    action: "failed",
    class: "invalid_recipient",
    hard: true,
    verpId: "1",
    originalMessageId: "<contract.1@example.test>",
  }],
  subject: "Undelivered Mail Returned to Sender",
  from: "MAILER-DAEMON@example.net",
};

function record(mailbox: string, uidl: string, report = REPORT): BounceRecord {
  return {
    mailbox,
    uidl,
    report,
    raw: new TextEncoder().encode(`Subject: ${report.subject}\r\n\r\nbody\r\n`),
    retrievedAt: Date.UTC(2026, 0, 1),
  };
}

/** Registers the contract's tests for one implementation. */
export function bounceSinkContract(name: string, make: () => Promise<SinkUnderTest>): void {
  Deno.test(`${name}.processed() knows nothing before record()`, async () => {
    await using t = await make();
    assert.equal((await t.sink.processed("a@pop", ["u1", "u2"])).size, 0);
  });

  Deno.test(`${name}.record() makes the UIDL processed, for its mailbox only`, async () => {
    await using t = await make();
    const result = await t.sink.record(record("a@pop", "u1"));
    assert.equal(result.kind, "recorded");
    assert.deepEqual([...await t.sink.processed("a@pop", ["u1", "u2"])], ["u1"]);
    assert.equal((await t.sink.processed("b@pop", ["u1"])).size, 0);
  });

  Deno.test(`${name}.record() of a processed UIDL is a duplicate`, async () => {
    await using t = await make();
    await t.sink.record(record("a@pop", "u1"));
    assert.deepEqual(await t.sink.record(record("a@pop", "u1")), { kind: "duplicate" });
  });

  Deno.test(`${name}.record() counts matched and unmatched outcomes`, async () => {
    await using t = await make();
    const unrecognised: BounceReport = {
      outcomes: [{ kind: "unrecognised", reason: "not a bounce" }],
      subject: "hello",
      from: "someone@example.net",
    };
    const result = await t.sink.record(record("a@pop", "u9", unrecognised));
    assert.deepEqual(result, { kind: "recorded", matched: 0, unmatched: 1 });
  });

  Deno.test(`${name}.record() racing on one UIDL commits it once`, async () => {
    await using t = await make();
    const results = await Promise.all([
      t.sink.record(record("a@pop", "u1")),
      t.sink.record(record("a@pop", "u1")),
    ]);
    assert.deepEqual(results.map((r) => r.kind).sort(), ["duplicate", "recorded"]);
  });
}
