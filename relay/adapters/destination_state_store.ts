/**
 * The actors' DestinationStateStore over PostgreSQL (db/destination_state.ts): names each write's
 * lease as the queue does (`domain:<name>`), so only this instance's held leases let a state
 * through, and reads back only records the actors can use (actors/destination_state.ts checks
 * each; a record in another format is left out, and its destination starts afresh).
 *
 * @module
 */
import { parseDestinationState } from "../../actors/destination_state.ts";
import type { DestinationState, DestinationStateStore } from "../../actors/ports.ts";
import type { Db } from "../../db/client.ts";
import { loadDestinationStates, saveDestinationStates } from "../../db/destination_state.ts";
import { domainLease } from "../../db/leases.ts";

export function pgDestinationStates(
  o: { readonly db: Db; readonly instance: string },
): DestinationStateStore {
  const { db, instance: owner } = o;
  return {
    async load(keys) {
      const out = new Map<string, DestinationState>();
      for (const row of await loadDestinationStates(db, keys)) {
        const state = parseDestinationState(row.state);
        if (state) out.set(row.key, state);
      }
      return out;
    },
    async save(states, now) {
      const r = await saveDestinationStates(
        db,
        states.map((s) => ({ key: s.key, lease: domainLease(s.domain), state: s.state })),
        { owner, now: new Date(now) },
      );
      return { refused: r.refused };
    },
  };
}
