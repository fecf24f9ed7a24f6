/**
 * The bounce poller's events as lines of the relay's log (`bounce.*`).
 *
 * Credentials never reach the log: the events carry no config, and every free-text field that a
 * server wrote (an `-ERR` text, a failure reason) is scrubbed of the POP3 password and the VERP
 * secret, in case a broken or hostile server echoes what it was sent.
 *
 * @module
 */
import type { BounceEvent } from "./events.ts";
import type { PollCounts } from "./poll_report.ts";

/** The log lines bounce processing adds to the relay's log. */
export type BounceLogLine =
  /** One message committed, with what its report said. */
  | {
    readonly event: "bounce.message_recorded";
    readonly mailbox: string;
    readonly uidl: string;
    /** Outcome kinds in the message: `bounce`, `complaint`, `unrecognised`. */
    readonly outcomes: readonly string[];
    readonly matched: number;
    readonly unmatched: number;
  }
  /** Committed by an earlier poll that did not get to DELE it: deleted, not counted again. */
  | {
    readonly event: "bounce.message_already_processed";
    readonly mailbox: string;
    readonly uidl: string;
  }
  /** The server refused RETR, TOP or DELE: the message stays for the next poll. */
  | {
    readonly event: "bounce.message_refused";
    readonly mailbox: string;
    readonly uidl: string;
    readonly command: string;
    readonly text: string;
  }
  /** A poll that found messages; polls of an empty mailbox are not logged. */
  | {
    readonly event: "bounce.poll_completed";
    readonly mailbox: string;
    readonly counts: Readonly<Record<string, number>>;
  }
  /** A poll that stopped early; what it committed stays committed, the rest waits. */
  | {
    readonly event: "bounce.poll_failed";
    readonly mailbox: string;
    readonly stage: string;
    readonly reason: string;
    readonly counts: Readonly<Record<string, number>>;
  }
  /** Shutdown cut a poll short, without QUIT: the server deleted nothing. */
  | { readonly event: "bounce.poll_aborted"; readonly mailbox: string; readonly stage: string };

/** What replaces a credential found in a logged text. */
export const REDACTED = "[redacted]";

/**
 * The log event for one bounce event, or undefined for one not worth a line (a poll of an empty
 * mailbox). `secrets` are the strings that must never appear in it.
 */
export function bounceLogLine(
  event: BounceEvent,
  secrets: readonly string[],
): BounceLogLine | undefined {
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
