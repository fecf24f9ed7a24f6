/**
 * Shared bits of the SMTP client tests: session options on a FakeClock, opening a session on a
 * test peer, and byte helpers.
 *
 * @module
 */
import assert from "node:assert/strict";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import {
  type ConnectOptions,
  connectSmtp,
  type Outcome,
  type RecipientOutcome,
  type SmtpSession,
  type TraceEvent,
} from "../../../relay/smtp/mod.ts";

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();

/** Options for a test session: FakeClock, a fixed EHLO name, a transcript collected in `trace`. */
export function testOptions(
  overrides: Partial<ConnectOptions> = {},
): ConnectOptions & { clock: FakeClock; transcript: TraceEvent[] } {
  const transcript: TraceEvent[] = [];
  return {
    clock: new FakeClock(),
    heloName: "relay.ferry.test",
    trace: (e) => transcript.push(e),
    transcript,
    ...overrides,
  } as ConnectOptions & { clock: FakeClock; transcript: TraceEvent[] };
}

/** Connects and asserts a ready session. */
export async function mustConnect(port: number, options: ConnectOptions): Promise<SmtpSession> {
  const opened = await connectSmtp("127.0.0.1", port, options);
  if (opened.kind !== "ready") {
    assert.fail(`expected a session, got ${JSON.stringify(opened.failure)}`);
  }
  return opened.session;
}

/** The single outcome of a one-recipient send. */
export function only(outcomes: RecipientOutcome[]): Outcome {
  assert.equal(outcomes.length, 1);
  return outcomes[0]!.outcome;
}

/** SHA-256 hex of bytes. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A small well-formed message. */
export function simpleMessage(body = "Hello.\r\n", subject = "Test"): Uint8Array {
  return encoder.encode(
    `From: sender@ferry.test\r\nTo: rcpt@peer.test\r\nSubject: ${subject}\r\n\r\n${body}`,
  );
}

/**
 * Advances the fake clock in `stepMs` steps while `work` is pending (and something sleeps on the
 * clock), then returns its result. Bounded: at most `maxTurns` turns.
 */
export async function drive<T>(
  clock: import("../../_fakes/fake_clock.ts").FakeClock,
  work: Promise<T>,
  stepMs: number,
  maxTurns = 100_000,
): Promise<T> {
  let settled = false;
  work.then(() => settled = true, () => settled = true);
  for (let i = 0; i < maxTurns && !settled; i++) {
    // One event-loop turn between steps lets finished socket operations resolve, so a step
    // only ever finds the code under test parked on a peer that is really silent. No time is
    // waited for: setTimeout(0) is a turn of the loop.
    await new Promise((r) => setTimeout(r, 0));
    if (!settled && clock.pending > 0) await clock.advance(stepMs);
  }
  return await work;
}
