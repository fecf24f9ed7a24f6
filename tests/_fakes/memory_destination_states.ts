/**
 * An in-memory DestinationStateStore with the PostgreSQL one's contract: a save is refused
 * unless the saving instance holds the domain's lease (unexpired) in the MemoryQueue it is given.
 * Several queues (instances) may share one store, as instances share one database, when they
 * share their `leases` map too.
 */
import type {
  DestinationState,
  DestinationStateStore,
  DestinationStateWrite,
} from "../../actors/ports.ts";
import type { MemoryQueue } from "./memory_queue.ts";

export interface StoredState {
  readonly state: DestinationState;
  readonly owner: string;
  readonly at: number;
}

export class MemoryDestinationStates implements DestinationStateStore {
  /** Every save call, as given. */
  readonly saves: { owner: string; states: readonly DestinationStateWrite[]; at: number }[] = [];

  constructor(
    readonly rows = new Map<string, StoredState>(),
    readonly queue?: Pick<MemoryQueue, "owner" | "leases">,
  ) {}

  /** The same rows seen through another instance's queue (its owner and leases). */
  as(queue: Pick<MemoryQueue, "owner" | "leases">): MemoryDestinationStates {
    return new MemoryDestinationStates(this.rows, queue);
  }

  load(keys: readonly string[]): Promise<ReadonlyMap<string, DestinationState>> {
    const out = new Map<string, DestinationState>();
    for (const k of keys) {
      const row = this.rows.get(k);
      // Through JSON, as the database would hand it back.
      if (row) out.set(k, JSON.parse(JSON.stringify(row.state)));
    }
    return Promise.resolve(out);
  }

  save(states: readonly DestinationStateWrite[], now: number): Promise<{ refused: string[] }> {
    const owner = this.queue?.owner ?? "me";
    this.saves.push({ owner, states, at: now });
    const refused: string[] = [];
    for (const s of states) {
      const lease = this.queue?.leases.get(s.domain);
      if (this.queue && (!lease || lease.owner !== owner || lease.expiresAt <= now)) {
        refused.push(s.key);
        continue;
      }
      this.rows.set(s.key, { state: JSON.parse(JSON.stringify(s.state)), owner, at: now });
    }
    return Promise.resolve({ refused });
  }
}
