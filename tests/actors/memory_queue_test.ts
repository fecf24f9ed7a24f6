import { MemoryQueue } from "../_fakes/memory_queue.ts";
import { queueContract } from "./queue_contract.ts";

let id = 1;
queueContract("MemoryQueue", () => {
  const shared = new Map<string, MemoryQueue>();
  const rows: MemoryQueue["rows"] = [];
  const leases: MemoryQueue["leases"] = new Map();
  return Promise.resolve({
    queue(owner: string) {
      let q = shared.get(owner);
      if (!q) {
        q = new MemoryQueue(owner);
        // Instances share the database: the same rows and leases.
        Object.assign(q, { rows, leases });
        shared.set(owner, q);
      }
      return Promise.resolve(q);
    },
    add(domain: string, n: number, dueAt: number) {
      const q = new MemoryQueue();
      Object.assign(q, { rows, leases });
      q.add(
        Array.from({ length: n }, () => ({
          id: id++,
          outboxId: id,
          recipient: `r${id}@${domain}`,
          domain,
          priority: 1,
          attempts: 0,
          expiresAt: dueAt + 86_400_000,
          smtputf8: false,
          leaseToken: 0,
          leaseExpiresAt: 0,
        })),
        dueAt,
      );
      return Promise.resolve();
    },
    [Symbol.asyncDispose]: () => Promise.resolve(),
  });
});
