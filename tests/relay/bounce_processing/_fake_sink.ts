/**
 * An in-memory {@link BounceSink} with the transaction semantics the real one must have: a
 * record's outcomes and its UIDL marker become visible together or not at all. Hooks let a test
 * fail before the commit or "crash" right after it.
 */
import type { BounceOutcome } from "../../../relay/bounce_parsing/mod.ts";
import type {
  BounceRecord,
  BounceSink,
  RecordResult,
} from "../../../relay/bounce_processing/sink.ts";

export interface StoredOutcome {
  readonly uidl: string;
  readonly outcome: BounceOutcome;
  /** The delivery it was tied to, or undefined when kept unmatched. */
  readonly deliveryId?: string;
}

export class FakeSink implements BounceSink {
  /** Committed markers: `mailbox|uidl`. */
  readonly markers = new Set<string>();
  readonly outcomes: StoredOutcome[] = [];
  /** Raw messages kept because something in them could not be matched. */
  readonly kept: BounceRecord[] = [];
  /** Runs after the commit, before record() returns: abort or cut the connection here. */
  afterCommit?: (record: BounceRecord) => void | Promise<void>;
  /** Returning true makes record() fail before committing anything. */
  failBeforeCommit?: (record: BounceRecord) => boolean;
  recordCalls = 0;

  /** Known deliveries by id, and their Message-IDs, as the database would hold them. */
  constructor(readonly deliveries: ReadonlyMap<string, { messageId: string }> = new Map()) {}

  processed(mailbox: string, uidls: readonly string[]): Promise<ReadonlySet<string>> {
    return Promise.resolve(new Set(uidls.filter((u) => this.markers.has(`${mailbox}|${u}`))));
  }

  async record(record: BounceRecord): Promise<RecordResult> {
    this.recordCalls++;
    if (this.failBeforeCommit?.(record)) throw new Error("database unavailable");
    const key = `${record.mailbox}|${record.uidl}`;
    if (this.markers.has(key)) return { kind: "duplicate" };
    // The "transaction": build everything, then publish at once.
    const rows = record.report.outcomes.map((outcome): StoredOutcome => {
      const deliveryId = this.#match(outcome);
      return deliveryId === undefined
        ? { uidl: record.uidl, outcome }
        : { uidl: record.uidl, outcome, deliveryId };
    });
    const unmatched = rows.filter((r) => r.deliveryId === undefined).length;
    this.markers.add(key);
    this.outcomes.push(...rows);
    if (unmatched > 0) this.kept.push(record);
    await this.afterCommit?.(record);
    return { kind: "recorded", matched: rows.length - unmatched, unmatched };
  }

  #match(outcome: BounceOutcome): string | undefined {
    if (outcome.kind === "unrecognised") return undefined;
    if (outcome.verpId !== undefined && this.deliveries.has(outcome.verpId)) return outcome.verpId;
    for (const [id, d] of this.deliveries) {
      if (outcome.originalMessageId === d.messageId) return id;
    }
    return undefined;
  }
}
