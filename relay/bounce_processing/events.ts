/**
 * What the bounce processor reports through its log hook: typed events, no console, no
 * credentials (the password and the VERP secret never appear in any of them).
 *
 * @module
 */
import type { BounceOutcome } from "../bounce_parsing/mod.ts";
import type { PollReport } from "./poll_report.ts";

export type BounceEvent =
  | {
    readonly kind: "bounce.message_recorded";
    readonly mailbox: string;
    readonly uidl: string;
    readonly outcomes: readonly BounceOutcome["kind"][];
    readonly matched: number;
    readonly unmatched: number;
  }
  | {
    /** The marker existed already: a previous poll committed it but did not get to delete it. */
    readonly kind: "bounce.message_already_processed";
    readonly mailbox: string;
    readonly uidl: string;
  }
  | {
    /** The server refused RETR or DELE for one message; it stays and is tried next poll. */
    readonly kind: "bounce.message_refused";
    readonly mailbox: string;
    readonly uidl: string;
    readonly command: string;
    readonly text: string;
  }
  | {
    readonly kind: "bounce.poll_finished";
    readonly mailbox: string;
    readonly report: PollReport;
  };

export type BounceLog = (event: BounceEvent) => void;
