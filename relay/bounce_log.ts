/**
 * The bounce poller's events as the relay's log events (`bounce.*` in actors/ports.ts).
 *
 * Credentials never reach the log: the events carry no config, and every free-text field that a
 * server wrote (an `-ERR` text, a failure reason) is scrubbed of the POP3 password and the VERP
 * secret, in case a broken or hostile server echoes what it was sent.
 *
 * @module
 */
import type { LogEvent } from "../actors/ports.ts";
import type { BounceEvent, PollCounts } from "./bounce/mod.ts";

/** What replaces a credential found in a logged text. */
export const REDACTED = "[redacted]";

/**
 * The log event for one bounce event, or undefined for one not worth a line (a poll of an empty
 * mailbox). `secrets` are the strings that must never appear in it.
 */
export function bounceLogEvent(
  event: BounceEvent,
  secrets: readonly string[],
): LogEvent | undefined {
  const scrub = scrubber(secrets);
  switch (event.kind) {
    case "bounce.message_recorded":
      return {
        event: event.kind,
        mailbox: event.mailbox,
        uidl: event.uidl,
        outcomes: [...event.outcomes],
        matched: event.matched,
        unmatched: event.unmatched,
      };
    case "bounce.message_already_processed":
      return { event: event.kind, mailbox: event.mailbox, uidl: event.uidl };
    case "bounce.message_refused":
      return {
        event: event.kind,
        mailbox: event.mailbox,
        uidl: event.uidl,
        command: event.command,
        text: scrub(event.text),
      };
    case "bounce.poll_finished": {
      const { report, mailbox } = event;
      switch (report.kind) {
        case "completed":
          return report.counts.listed > 0
            ? { event: "bounce.poll_completed", mailbox, counts: countsOf(report.counts) }
            : undefined;
        case "failed":
          return {
            event: "bounce.poll_failed",
            mailbox,
            stage: report.stage,
            reason: scrub(report.reason),
            counts: countsOf(report.counts),
          };
        case "aborted":
          return { event: "bounce.poll_aborted", mailbox, stage: report.stage };
      }
    }
  }
}

function countsOf(counts: Readonly<PollCounts>): Record<string, number> {
  return { ...counts };
}

function scrubber(secrets: readonly string[]): (text: string) => string {
  // Longest first, so a secret containing another is replaced whole.
  const list = secrets.filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  return (text) => list.reduce((t, s) => t.replaceAll(s, REDACTED), text);
}
