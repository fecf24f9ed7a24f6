/**
 * The Postfix drain of relay_bench.ts: the backlog of the Ferry drain, as the same bytes, through
 * a private Postfix into the same `smtp-sink`, timed like Ferry's, printed after its assertions.
 *
 * @module
 */
import assert from "node:assert/strict";
import { injectSmtp, startPostfixRelay } from "../_peers/postfix_relay.ts";
import { procStats, treeCpu } from "../_support/relay_process.ts";
import { cpuFigure, cpuMeter } from "./_cpu_meter.ts";
import { loadAverage, report } from "./_env.ts";
import {
  type DrainResult,
  type DrainSetup,
  perMessage,
  recipient,
  round,
  sleep,
} from "./_relay_drain.ts";

/**
 * Postfix: 100 smtp processes, all allowed to deliver to the one next hop at once (the default
 * would be 20). 50 and 200 gave the same rate within noise on this machine.
 */
export const POSTFIX_TUNING = { processLimit: 100, destinationConcurrency: 100 };

/** The same backlog through Postfix: injected while held, released, counted at the sink. */
export async function drainPostfix(s: DrainSetup): Promise<DrainResult> {
  await using postfix = await startPostfixRelay(s.sink.port, POSTFIX_TUNING);
  const [head, tail] = [
    s.sample.slice(0, s.sample.indexOf(s.toMark)),
    s.sample.slice(s.sample.indexOf(s.toMark) + s.toMark.length),
  ];
  const injectStart = performance.now();
  await injectSmtp(postfix.port, {
    messages: s.messages,
    sessions: 8,
    from: "bench@ferry.test",
    recipient: (i) => recipient(i, s.domains),
    message: (i) => `${head}${recipient(i, s.domains)}${tail}`,
  });
  const injectS = (performance.now() - injectStart) / 1000;
  for (let i = 0; i < 600 && postfix.held() < s.messages; i++) await sleep(100);
  const held = postfix.held();
  const sink0 = s.sink.received();
  const loadBefore = loadAverage();
  const meter = cpuMeter({
    postfix: () => treeCpu(postfix.pid),
    sink: () => procStats(s.sink.pid)?.cpu ?? 0,
  });
  // Timed from the queue run on: moving 20,000 files out of hold is the harness's work.
  await postfix.unhold();
  const sentBeforeFlush = s.sink.received() - sink0;
  const start = performance.now();
  await postfix.flush();
  let received = 0;
  for (let i = 0; i < 20 * 60 * 20 && received < s.messages; i++) {
    await sleep(50);
    received = s.sink.received() - sink0;
  }
  const drainS = (performance.now() - start) / 1000;
  const cpu = meter();
  const loadAfter = loadAverage();
  // Settle: nothing more may arrive (a duplicate), and the queue must be empty.
  for (let i = 0; i < 50 && postfix.queued() > 0; i++) await sleep(100);
  await sleep(500);
  assert.equal(held, s.messages, "Postfix held the whole backlog before the release");
  assert.equal(received, s.messages, "the sink counted every message Postfix sent");
  assert.equal(s.sink.received() - sink0, s.messages, "the sink counted none from Postfix twice");
  assert.equal(postfix.queued(), 0, "Postfix's queue is empty after the drain");
  const rate = Math.round(s.messages / drainS);
  report({
    bench: "relay",
    phase: "drain",
    system: "postfix",
    messages: s.messages,
    domains: s.domains,
    held,
    received_before_flush: sentBeforeFlush,
    received_at_sink: received,
    inject_s: round(injectS),
    drain_s: round(drainS),
    messages_per_s: rate,
    load_avg_before: loadBefore,
    load_avg_after: loadAfter,
    tuning: POSTFIX_TUNING,
  });
  report({
    bench: "relay",
    phase: "drain-cpu",
    system: "postfix",
    ...cpuFigure(drainS, s.messages, cpu),
  });
  return { rate, cpuMsPerMessage: perMessage(cpu.used.postfix!, s.messages) };
}
