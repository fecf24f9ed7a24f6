import { MemoryQueue } from "../_fakes/memory_queue.ts";
import { MemoryDestinationStates } from "../_fakes/memory_destination_states.ts";
import { destinationStateStoreContract } from "./destination_state_store_contract.ts";

destinationStateStoreContract("MemoryDestinationStates", () => {
  const first = new MemoryQueue("first");
  const states = new MemoryDestinationStates();
  return Promise.resolve({
    instance(owner: string) {
      // Instances share the database: the same leases and states.
      const queue = first.peer(owner);
      return Promise.resolve({ queue, store: states.as(queue) });
    },
    [Symbol.asyncDispose]: () => Promise.resolve(),
  });
});
