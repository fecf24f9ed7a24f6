/**
 * The result of one poll of the bounce mailbox: a value, whatever happened.
 *
 * @module
 */

/** Tallies of one poll. */
export interface PollCounts {
  /** Messages the mailbox listed. */
  listed: number;
  /** Messages retrieved and recorded in this poll. */
  recorded: number;
  /** Outcomes among those, by kind. */
  bounces: number;
  complaints: number;
  unrecognised: number;
  /** Outcomes the sink tied to a delivery, and those it kept unmatched. */
  matched: number;
  unmatched: number;
  /** Committed by an earlier poll that did not get to delete them: deleted, not recorded again. */
  alreadyProcessed: number;
  /** Committed meanwhile by another poller (the sink said `duplicate`). */
  duplicates: number;
  /** Marked for deletion (DELE +OK); the server removes them at QUIT. */
  deleted: number;
  /** Refused by the server (RETR or DELE `-ERR`): left in place for the next poll. */
  refused: number;
  /** Left for the next poll because this one reached its message limit. */
  deferred: number;
  /** Larger than the size limit: recorded from their header and first lines only (TOP). */
  oversized: number;
}

/** Where a poll stopped early. */
export type PollStage = "connect" | "auth" | "list" | "retrieve" | "record" | "delete" | "quit";

export type PollReport =
  | { readonly kind: "completed"; readonly counts: Readonly<PollCounts> }
  | {
    readonly kind: "failed";
    readonly stage: PollStage;
    readonly reason: string;
    readonly counts: Readonly<PollCounts>;
  }
  /** The abort signal fired: the session was dropped without QUIT, so no deletion happened. */
  | { readonly kind: "aborted"; readonly stage: PollStage; readonly counts: Readonly<PollCounts> };

export function emptyCounts(): PollCounts {
  return {
    listed: 0,
    recorded: 0,
    bounces: 0,
    complaints: 0,
    unrecognised: 0,
    matched: 0,
    unmatched: 0,
    alreadyProcessed: 0,
    duplicates: 0,
    deleted: 0,
    refused: 0,
    deferred: 0,
    oversized: 0,
  };
}
