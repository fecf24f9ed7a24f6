/**
 * An actor's queued work: deliveries grouped into jobs (one message, up to N recipients at this
 * destination, sent in one SMTP transaction), in three priority lanes. High-priority mail
 * overtakes queued normal and low mail; within a lane, first in first out.
 *
 * @module
 */
import type { Delivery } from "./ports.ts";

export interface Job {
  readonly outboxId: number;
  readonly priority: number;
  readonly deliveries: readonly Delivery[];
}

export class JobQueue {
  readonly #lanes: Job[][] = [[], [], []];
  #size = 0;

  /** Deliveries queued (not jobs). */
  get size(): number {
    return this.#size;
  }

  /** Adds deliveries, grouping those of the same message (adjacent or not) into jobs. */
  add(deliveries: readonly Delivery[], maxRecipients: number): void {
    const groups = new Map<number, Delivery[]>();
    for (const d of deliveries) {
      const g = groups.get(d.outboxId);
      if (g) g.push(d);
      else groups.set(d.outboxId, [d]);
    }
    for (const [outboxId, all] of groups) {
      const priority = Math.min(2, Math.max(0, all[0]!.priority));
      for (let i = 0; i < all.length; i += maxRecipients) {
        this.#lanes[priority]!.push({
          outboxId,
          priority,
          deliveries: all.slice(i, i + maxRecipients),
        });
      }
      this.#size += all.length;
    }
  }

  /** The job that would be taken next. */
  peek(): Job | undefined {
    for (const lane of this.#lanes) if (lane.length > 0) return lane[0];
    return undefined;
  }

  /** Takes the next job, or its first `max` recipients (the rest stays first in line). */
  take(max = Infinity): Job | undefined {
    for (const lane of this.#lanes) {
      const job = lane[0];
      if (!job) continue;
      if (job.deliveries.length <= max) {
        lane.shift();
        this.#size -= job.deliveries.length;
        return job;
      }
      const head = { ...job, deliveries: job.deliveries.slice(0, max) };
      lane[0] = { ...job, deliveries: job.deliveries.slice(max) };
      this.#size -= max;
      return head;
    }
    return undefined;
  }

  /** Removes and returns the queued deliveries that match. */
  drainWhere(match: (d: Delivery) => boolean): Delivery[] {
    const out: Delivery[] = [];
    for (const lane of this.#lanes) {
      const kept: Job[] = [];
      for (const job of lane) {
        const gone = job.deliveries.filter(match);
        out.push(...gone);
        if (gone.length < job.deliveries.length) {
          kept.push(
            gone.length === 0
              ? job
              : { ...job, deliveries: job.deliveries.filter((d) => !match(d)) },
          );
        }
      }
      lane.splice(0, lane.length, ...kept);
    }
    this.#size -= out.length;
    return out;
  }

  /** Removes and returns every queued delivery. */
  drain(): Delivery[] {
    const all = this.#lanes.flatMap((lane) => lane.flatMap((j) => j.deliveries));
    for (const lane of this.#lanes) lane.length = 0;
    this.#size = 0;
    return all;
  }
}
