/**
 * pollMailbox() against a real Dovecot holding the sample bounces, with an in-memory sink.
 * Skipped when /usr/sbin/dovecot is absent. Deadlines run on a FakeClock that never moves.
 */
import assert from "node:assert/strict";
import { pollMailbox, type PollOptions } from "../../../relay/bounce_processing/processor.ts";
import { type PollReport } from "../../../relay/bounce_processing/poll_report.ts";
import { Secret } from "../../../lib/secret.ts";
import { openPop3, type Pop3TlsMode } from "../../../relay/pop3/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { dovecotAvailable, type DovecotPeer, startDovecot } from "../../_peers/dovecot.ts";
import { FakeSink } from "./_fake_sink.ts";
import {
  checkOutcome,
  EXPECTED,
  readSample,
  SAMPLE_VERP,
  sampleDeliveries,
  sampleNames,
  sampleOf,
} from "../bounce_parsing/_samples.ts";
import { requirePeer } from "../../_support/peers.ts";

const ignore = requirePeer("dovecot", !dovecotAvailable);
const SAMPLES = dovecotAvailable ? sampleNames() : [];

interface Harness {
  readonly dovecot: DovecotPeer;
  readonly sink: FakeSink;
  options(extra?: Partial<PollOptions>): PollOptions;
}

async function harness(
  tls: Pop3TlsMode = "implicit",
  method: "user" | "apop" = "user",
): Promise<Harness & AsyncDisposable> {
  const dovecot = await startDovecot();
  for (const name of SAMPLES) await dovecot.deliver(name, readSample(name));
  const sink = new FakeSink(sampleDeliveries());
  const clock = new FakeClock();
  return {
    dovecot,
    sink,
    options: (extra = {}) => ({
      clock,
      sink,
      mailbox: `${dovecot.user}@${dovecot.host}`,
      verp: SAMPLE_VERP,
      credentials: { user: dovecot.user, password: new Secret(dovecot.password), method },
      connect: () =>
        openPop3({
          host: dovecot.host,
          port: tls === "implicit" ? dovecot.pop3sPort : dovecot.pop3Port,
          tls,
          caCerts: [dovecot.caCert],
        }, { clock }),
      ...extra,
    }),
    [Symbol.asyncDispose]: () => dovecot.stop(),
  };
}

function counts(report: PollReport) {
  return report.counts;
}

/** Every sample recorded exactly once, each matched and classified as its expectation says. */
function assertAllRecordedOnce(sink: FakeSink): void {
  assert.equal(sink.outcomes.length, SAMPLES.length, "one outcome per sample, none twice");
  assert.equal(sink.markers.size, SAMPLES.length);
  const seen = new Set<string>();
  for (const stored of sink.outcomes) {
    const name = sampleOf(stored.outcome);
    assert.ok(!seen.has(name), `${name} recorded twice`);
    seen.add(name);
    checkOutcome(name, stored.outcome, EXPECTED[name]!);
    const want = EXPECTED[name]!;
    const deliveryId = want.kind === "unrecognised"
      ? undefined
      : want.verpId ?? /ferry\.(\d+)\./.exec(want.originalMessageId)![1];
    assert.equal(stored.deliveryId, deliveryId, `${name}: matched delivery`);
  }
}

for (
  const [tls, method] of [["implicit", "user"], ["starttls", "user"], ["none", "apop"]] as const
) {
  Deno.test({
    name:
      `pollMailbox() over ${tls} TLS with ${method} auth records, matches and deletes every sample`,
    ignore,
    fn: async () => {
      await using h = await harness(tls, method);
      const report = await pollMailbox(h.options());
      assert.equal(report.kind, "completed", JSON.stringify(report));
      assert.deepEqual(counts(report), {
        listed: 12,
        recorded: 12,
        bounces: 9,
        complaints: 1,
        unrecognised: 2,
        matched: 10,
        unmatched: 2,
        alreadyProcessed: 0,
        duplicates: 0,
        deleted: 12,
        refused: 0,
        deferred: 0,
        oversized: 0,
      });
      assertAllRecordedOnce(h.sink);
      // Unmatched ones are kept, raw, not dropped.
      assert.deepEqual(
        h.sink.kept.map((r) => sampleOf(r.report.outcomes[0])).sort(),
        ["auto_reply.eml", "human_reply.eml"],
      );
      assert.equal(await h.dovecot.count(), 0);
      // A second poll finds nothing and records nothing.
      const again = await pollMailbox(h.options());
      assert.equal(again.kind === "completed" && again.counts.listed, 0);
      assert.equal(h.sink.recordCalls, 12);
    },
  });
}

Deno.test({
  name: "pollMailbox() crashing between commit and DELE loses nothing and counts nothing twice",
  ignore,
  fn: async () => {
    await using h = await harness();
    const crash = new AbortController();
    h.sink.afterCommit = () => {
      if (h.sink.markers.size === 4) crash.abort(new Error("killed after the 4th commit"));
    };
    const first = await pollMailbox(h.options(), crash.signal);
    assert.equal(first.kind, "aborted");
    assert.equal(first.kind === "aborted" && first.stage, "record");
    assert.equal(first.counts.recorded, 4);
    assert.equal(h.sink.markers.size, 4);
    // No QUIT was sent: the server deleted nothing, not even the three DELEs it acknowledged.
    assert.equal(await h.dovecot.count(), 12);

    h.sink.afterCommit = undefined;
    const second = await pollMailbox(h.options());
    assert.equal(second.kind, "completed", JSON.stringify(second));
    assert.equal(second.counts.alreadyProcessed, 4);
    assert.equal(second.counts.recorded, 8);
    assert.equal(second.counts.deleted, 12);
    assert.equal(h.sink.recordCalls, 12, "the 4 committed ones were not recorded again");
    assertAllRecordedOnce(h.sink);
    assert.equal(await h.dovecot.count(), 0);
  },
});

Deno.test({
  name: "pollMailbox() losing the connection after some DELEs re-deletes them next poll",
  ignore,
  fn: async () => {
    await using h = await harness();
    h.sink.afterCommit = async () => {
      if (h.sink.markers.size === 6) await h.dovecot.kick(); // the server drops the session
    };
    const first = await pollMailbox(h.options());
    assert.equal(first.kind, "failed");
    // Dovecot may answer the DELE in flight with -ERR before hanging up: either way the session
    // ends without QUIT, after the 6th commit.
    assert.match(first.kind === "failed" ? first.reason : "", /^Pop3ClosedError/);
    assert.equal(first.counts.recorded, 6);
    assert.ok(first.counts.deleted === 5 || first.counts.deleted === 6, `${first.counts.deleted}`);
    assert.equal(await h.dovecot.count(), 12);

    h.sink.afterCommit = undefined;
    const second = await pollMailbox(h.options());
    assert.equal(second.kind, "completed");
    assert.equal(second.counts.alreadyProcessed, 6);
    assert.equal(second.counts.recorded, 6);
    assertAllRecordedOnce(h.sink);
    assert.equal(await h.dovecot.count(), 0);
  },
});

Deno.test({
  name: "pollMailbox() stops when the sink fails, deleting only what was committed",
  ignore,
  fn: async () => {
    await using h = await harness();
    h.sink.failBeforeCommit = () => h.sink.markers.size === 3;
    const first = await pollMailbox(h.options());
    assert.equal(first.kind, "failed");
    assert.equal(first.kind === "failed" && first.stage, "record");
    assert.match(first.kind === "failed" ? first.reason : "", /database unavailable/);
    // QUIT was sent: the three committed messages are gone, the failed one and the rest stay.
    assert.equal(await h.dovecot.count(), 9);

    h.sink.failBeforeCommit = undefined;
    const second = await pollMailbox(h.options());
    assert.equal(second.kind, "completed");
    assert.equal(second.counts.recorded, 9);
    assertAllRecordedOnce(h.sink);
    assert.equal(await h.dovecot.count(), 0);
  },
});

Deno.test({
  name: "pollMailbox() takes at most maxMessages new messages per poll",
  ignore,
  fn: async () => {
    await using h = await harness();
    const sizes: number[] = [];
    for (let i = 0; i < 4; i++) {
      const report = await pollMailbox(h.options({ maxMessages: 5 }));
      assert.equal(report.kind, "completed");
      sizes.push(report.counts.recorded);
      assert.equal(report.counts.deferred, report.counts.listed - report.counts.recorded);
    }
    assert.deepEqual(sizes, [5, 5, 2, 0]);
    assertAllRecordedOnce(h.sink);
  },
});

Deno.test({
  name: "pollMailbox() run by two pollers at once records each message once",
  ignore,
  fn: async () => {
    await using h = await harness();
    const [a, b] = await Promise.all([pollMailbox(h.options()), pollMailbox(h.options())]);
    assert.equal(a.kind, "completed", JSON.stringify(a));
    assert.equal(b.kind, "completed", JSON.stringify(b));
    assert.equal(a.counts.recorded + b.counts.recorded, 12);
    assertAllRecordedOnce(h.sink);
    assert.equal(await h.dovecot.count(), 0);
  },
});

Deno.test({
  name: "pollMailbox() reports a refused login and touches nothing",
  ignore,
  fn: async () => {
    await using h = await harness();
    const options = h.options();
    const report = await pollMailbox({
      ...options,
      credentials: { ...options.credentials, password: new Secret("wrong") },
    });
    assert.equal(report.kind, "failed");
    assert.equal(report.kind === "failed" && report.stage, "auth");
    assert.match(report.kind === "failed" ? report.reason : "", /PASS refused: -ERR \[AUTH\]/);
    assert.ok(!JSON.stringify(report).includes(h.dovecot.password));
    assert.equal(h.sink.recordCalls, 0);
    assert.equal(await h.dovecot.count(), 12);
  },
});

Deno.test({
  name: "pollMailbox() reads an oversized message with TOP and still classifies it",
  ignore,
  fn: async () => {
    await using h = await harness();
    // A Postfix bounce returning the whole 2 MB original as message/rfc822.
    const sample = new TextDecoder().decode(readSample("postfix_user_unknown.eml"));
    const big = sample.replace("Content-Type: text/rfc822-headers", "Content-Type: message/rfc822")
      .replace(
        "Content-Type: text/plain; charset=utf-8\n\n--4Xk2",
        `Content-Type: text/plain; charset=utf-8\n\n${
          "x".repeat(76).concat("\n").repeat(27_000)
        }\n--4Xk2`,
      );
    assert.ok(big.length > 2_000_000);
    await h.dovecot.deliver("big", big);
    const report = await pollMailbox(h.options({ maxMessageBytes: 1_000_000 }));
    assert.equal(report.kind, "completed", JSON.stringify(report));
    assert.equal(report.counts.oversized, 1);
    assert.equal(report.counts.recorded, 13);
    const fromBig = h.sink.outcomes.filter((o) => o.outcome.verpId === "1001");
    assert.equal(fromBig.length, 2, "the big copy and the sample both name delivery 1001");
    for (const { outcome } of fromBig) {
      checkOutcome("big postfix bounce", outcome, EXPECTED["postfix_user_unknown.eml"]!);
    }
    assert.equal(await h.dovecot.count(), 0);
  },
});
