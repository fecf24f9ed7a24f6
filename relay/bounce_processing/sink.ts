/**
 * The port the bounce processor writes through. Declared here, by its consumer, as the smallest
 * thing it needs; the database implementation lives with the database code.
 *
 * The contract that makes "nothing lost, nothing counted twice" hold:
 *
 * 1. `record()` commits the outcomes AND the `(mailbox, uidl)` marker in one transaction.
 * 2. The processor sends `DELE` only after `record()` resolved, and the server deletes only at a
 *    successful `QUIT` (RFC 1939 §6). A crash anywhere before that leaves the message in place.
 * 3. On the next poll, `processed()` names the messages whose marker exists; those are deleted
 *    without being recorded again.
 * 4. `record()` is idempotent on the marker (a unique key): if two pollers race on one message,
 *    the second gets `duplicate` and changes nothing.
 *
 * POP3 UIDLs are unique and persistent per maildrop (RFC 1939 §7), hence the mailbox in the key.
 *
 * @module
 */
import type { BounceReport } from "../bounce_parsing/mod.ts";

/** One mailbox message and what it turned out to be. */
export interface BounceRecord {
  /** Identifies the maildrop, e.g. `bounces@pop.example.com:995`. */
  readonly mailbox: string;
  readonly uidl: string;
  readonly report: BounceReport;
  /** The message as retrieved: kept by the sink for what it cannot match, so nothing is dropped. */
  readonly raw: Uint8Array;
  /** When it was retrieved, on the injected clock (ms since the epoch). */
  readonly retrievedAt: number;
}

export type RecordResult =
  /** Committed. `matched` outcomes were tied to a delivery; the `unmatched` ones were kept. */
  | { readonly kind: "recorded"; readonly matched: number; readonly unmatched: number }
  /** The marker already existed: nothing was written. */
  | { readonly kind: "duplicate" };

export interface BounceSink {
  /** Which of `uidls` already have a committed marker for `mailbox`. */
  processed(mailbox: string, uidls: readonly string[]): Promise<ReadonlySet<string>>;
  /** Commits the report's outcomes and the marker atomically (see the module comment). */
  record(record: BounceRecord): Promise<RecordResult>;
}
