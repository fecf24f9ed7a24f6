/**
 * An actor's queued work: deliveries grouped into jobs (one message, up to N recipients at this
 * destination, sent in one SMTP transaction), in three priority lanes. High-priority mail
 * overtakes queued normal and low mail; within a lane, first in first out.
 *
 * A persistent value: every operation returns a new queue and leaves the one it was given as it
 * was, so the domain actor's transitions (actors/domain_actor_transitions.ts) can hold it and
 * stay pure. Copying lanes costs little: an actor holds at most its queue capacity, a few
 * hundred deliveries.
 *
 * @module
 */
import type { Delivery } from "./ports.ts";

export interface Job {
  readonly outboxId: number;
  readonly priority: number;
  readonly deliveries: readonly Delivery[];
}

export interface Jobs {
  /** By priority: 0 (high), 1 (normal), 2 (low). */
  readonly lanes: readonly (readonly Job[])[];
  /** Deliveries queued (not jobs). */
  readonly size: number;
}

export const NO_JOBS: Jobs = { lanes: [[], [], []], size: 0 };

/** Adds deliveries, grouping those of the same message (adjacent or not) into jobs. */
export function addJobs(jobs: Jobs, deliveries: readonly Delivery[], maxRecipients: number): Jobs {
  if (deliveries.length === 0) return jobs;
  const groups = new Map<number, Delivery[]>();
  for (const d of deliveries) {
    const g = groups.get(d.outboxId);
    if (g) g.push(d);
    else groups.set(d.outboxId, [d]);
  }
  const lanes = jobs.lanes.map((lane) => [...lane]);
  for (const [outboxId, all] of groups) {
    const priority = Math.min(2, Math.max(0, all[0]!.priority));
    for (let i = 0; i < all.length; i += maxRecipients) {
      lanes[priority]!.push({ outboxId, priority, deliveries: all.slice(i, i + maxRecipients) });
    }
  }
  return { lanes, size: jobs.size + deliveries.length };
}

/** When the longest-waiting queued delivery was queued; undefined when none says. */
export function oldestQueued(jobs: Jobs): number | undefined {
  let oldest: number | undefined;
  for (const lane of jobs.lanes) {
    for (const job of lane) {
      for (const d of job.deliveries) {
        if (d.queuedAt !== undefined && (oldest === undefined || d.queuedAt < oldest)) {
          oldest = d.queuedAt;
        }
      }
    }
  }
  return oldest;
}

/** The job that would be taken next (of those that `ready` accepts, when given). */
export function peekJob(jobs: Jobs, ready: (job: Job) => boolean = () => true): Job | undefined {
  for (const lane of jobs.lanes) for (const job of lane) if (ready(job)) return job;
  return undefined;
}

/**
 * Takes the next job (the first that `ready` accepts, when given), or its first `max`
 * recipients (the rest keeps its place in line).
 */
export function takeJob(
  jobs: Jobs,
  max = Infinity,
  ready: (job: Job) => boolean = () => true,
): { jobs: Jobs; job: Job | undefined } {
  for (const [p, lane] of jobs.lanes.entries()) {
    const i = lane.findIndex(ready);
    if (i < 0) continue;
    const job = lane[i]!;
    const before = lane.slice(0, i);
    const after = lane.slice(i + 1);
    if (job.deliveries.length <= max) {
      return { jobs: withLane(jobs, p, [...before, ...after], job.deliveries.length), job };
    }
    const head = { ...job, deliveries: job.deliveries.slice(0, max) };
    const rest = { ...job, deliveries: job.deliveries.slice(max) };
    return { jobs: withLane(jobs, p, [...before, rest, ...after], max), job: head };
  }
  return { jobs, job: undefined };
}

/** The sender limit key of a job (its deliveries share one message, so one sender). */
export function senderOf(job: Job): string | undefined {
  return job.deliveries[0]?.sender;
}

/** Removes the queued deliveries that match (all by default); returns them in queue order. */
export function drainJobs(
  jobs: Jobs,
  match: (d: Delivery) => boolean = () => true,
): { jobs: Jobs; drained: Delivery[] } {
  const drained: Delivery[] = [];
  const lanes = jobs.lanes.map((lane) => {
    const kept: Job[] = [];
    for (const job of lane) {
      const gone = job.deliveries.filter(match);
      drained.push(...gone);
      if (gone.length === 0) kept.push(job);
      else if (gone.length < job.deliveries.length) {
        kept.push({ ...job, deliveries: job.deliveries.filter((d) => !match(d)) });
      }
    }
    return kept;
  });
  if (drained.length === 0) return { jobs, drained };
  return { jobs: { lanes, size: jobs.size - drained.length }, drained };
}

function withLane(jobs: Jobs, priority: number, lane: readonly Job[], taken: number): Jobs {
  return {
    lanes: jobs.lanes.map((l, p) => p === priority ? lane : l),
    size: jobs.size - taken,
  };
}
