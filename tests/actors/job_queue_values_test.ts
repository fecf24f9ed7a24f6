import assert from "node:assert/strict";
import {
  addJobs,
  drainJobs,
  type Jobs,
  NO_JOBS,
  peekJob,
  takeJob,
} from "../../actors/job_queue.ts";
import type { Delivery } from "../../actors/ports.ts";

let nextId = 1;
function delivery(outboxId: number, o: Partial<Delivery> = {}): Delivery {
  const id = nextId++;
  return {
    id,
    outboxId,
    recipient: `r${id}@dest.test`,
    domain: "dest.test",
    priority: 1,
    attempts: 0,
    expiresAt: 0,
    smtputf8: false,
    leaseToken: 1,
    leaseExpiresAt: 0,
    ...o,
  };
}

const ids = (jobs: Jobs) =>
  jobs.lanes.map((lane) => lane.map((j) => j.deliveries.map((d) => d.id)));

Deno.test("addJobs() groups a message's recipients into jobs of at most maxRecipients, by lane", () => {
  const [a, b, c] = [delivery(7), delivery(8), delivery(7)];
  const high = delivery(9, { priority: 0 });
  const jobs = addJobs(NO_JOBS, [a!, b!, c!, high], 50);
  assert.deepEqual(ids(jobs), [[[high.id]], [[a!.id, c!.id], [b!.id]], []]);
  assert.equal(jobs.size, 4);
  const split = addJobs(NO_JOBS, [delivery(1), delivery(1), delivery(1)], 2);
  assert.deepEqual(split.lanes[1]!.map((j) => j.deliveries.length), [2, 1]);
  assert.equal(addJobs(NO_JOBS, [delivery(1, { priority: 7 })], 5).lanes[2]!.length, 1);
});

Deno.test("takeJob() takes the highest lane first, or the head of a job, and leaves its input alone", () => {
  const low = delivery(1, { priority: 2 });
  const big = [delivery(2), delivery(2), delivery(2)];
  const before = addJobs(NO_JOBS, [low, ...big], 50);
  const first = takeJob(before, 2);
  assert.deepEqual(first.job!.deliveries.map((d) => d.id), [big[0]!.id, big[1]!.id]);
  assert.equal(first.jobs.size, 2);
  assert.equal(peekJob(first.jobs)!.deliveries[0]!.id, big[2]!.id, "the rest stays first in line");
  assert.deepEqual(ids(before), [[], [big.map((d) => d.id)], [[low.id]]], "unchanged");
  assert.equal(before.size, 4);
  const second = takeJob(first.jobs);
  const third = takeJob(second.jobs);
  assert.equal(third.job!.deliveries[0]!.id, low.id);
  assert.deepEqual(takeJob(third.jobs), { jobs: third.jobs, job: undefined });
});

Deno.test("drainJobs() removes what matches, in queue order, and keeps the rest grouped", () => {
  const a = delivery(1, { domain: "a.test" });
  const b = delivery(1, { domain: "b.test" });
  const c = delivery(2, { domain: "a.test", priority: 0 });
  const jobs = addJobs(NO_JOBS, [a, b, c], 50);
  const some = drainJobs(jobs, (d) => d.domain === "a.test");
  assert.deepEqual(some.drained.map((d) => d.id), [c.id, a.id]);
  assert.deepEqual(ids(some.jobs), [[], [[b.id]], []]);
  assert.equal(some.jobs.size, 1);
  const all = drainJobs(jobs);
  assert.deepEqual(all.drained.map((d) => d.id), [c.id, a.id, b.id]);
  assert.equal(all.jobs.size, 0);
  assert.equal(drainJobs(jobs, () => false).jobs, jobs, "nothing drained: the same queue");
});
