/**
 * The actor of one destination: it owns the destination's connections, rate budget, adaptive
 * concurrency and retry decisions. The supervisor feeds it deliveries (never more than its
 * `demand`), and it turns each into exactly one outcome.
 *
 * Shape: a run loop starts connection workers while there is queued work, a free connection slot
 * (adaptive limit) and room in the connection-rate budget. Each worker connects, then sends
 * messages one transaction at a time (all recipients of one message at this destination
 * together) until the connection is used up, breaks, or has been idle too long. Results are
 * classified into outcomes and written through the batcher before the worker goes on.
 *
 * @module
 */
import type { Actor } from "./supervisor.ts";
import type {
  ActorMetrics,
  Clock,
  ConnectResult,
  Deliverer,
  Delivery,
  FailureResult,
  Logger,
  OutcomeRecord,
  Random,
  RecipientResult,
  Session,
} from "./ports.ts";
import { addJobs, drainJobs, type Job, NO_JOBS, peekJob, takeJob } from "./job_queue.ts";
import { NothingSentError } from "./ports.ts";
import type { DomainActorSnapshot } from "./snapshots.ts";
import { reconnectBackoff } from "./backoff.ts";
import { classifyOutcome, type PlanRetry } from "./classify_outcome.ts";

/**
 * The reason every wait of this module is cut short with: `abort()` without one allocates a new
 * DOMException (with a stack trace) each time, and waits end thousands of times a second.
 */
const WAIT_OVER = new DOMException("The wait was cut short", "AbortError");

/** The actor's limits (resolved per destination by actors/policy.ts). */
export interface ActorPolicy {
  readonly messagesPerConnection: number;
  readonly idleTimeoutMs: number;
  readonly maxRecipientsPerTransaction: number;
  /** Deliveries held in memory at most. */
  readonly queueCapacity: number;
  /** A claim this close to its lease end is not started: it is handed back instead. */
  readonly leaseMarginMs: number;
  /** How long a claim's lease lasts: demand counts only what can start before its margin. */
  readonly leaseMs?: number;
}

/** How far ahead demand() counts the rate budget: keeps a throttled destination's rows queued. */
export const DEMAND_HORIZON_MS = 2_000;
/** Deliveries queued per connection (besides the one in flight), so none waits for a claim. */
export const QUEUED_PER_CONNECTION = 2;

/** Message-rate budget (GCRA, actors/rate_budget.ts). */
export interface Budget {
  tryTake(now: number, n: number): { ok: true } | { ok: false; retryAt: number };
  /** What could be taken by `now + withinMs` (default: right now). */
  available(now: number, options?: { withinMs?: number }): number;
}

/** Adaptive concurrency and reachability (actors/aimd.ts). */
export interface Concurrency {
  limit(now: number): number;
  /** Until when the destination counts as unreachable, if it does. */
  unreachableUntil(now: number): number | undefined;
  connected(now: number): void;
  connectFailed(now: number): void;
  success(now: number): void;
  throttled(now: number): void;
}

export type { PlanRetry } from "./classify_outcome.ts";

export interface DomainActorDeps {
  /** The destination's name: a domain, or an MX group's key. */
  readonly domain: string;
  /** The domain whose route the connections use (a member of the group); default `domain`. */
  readonly connectTo?: string;
  readonly policy: ActorPolicy;
  readonly clock: Clock;
  readonly random: Random;
  readonly deliverer: Deliverer;
  readonly budget: Budget;
  /** Connections opened per time (optional). */
  readonly connectionBudget?: Budget;
  readonly concurrency: Concurrency;
  readonly planRetry: PlanRetry;
  readonly record: (outcome: OutcomeRecord) => Promise<boolean>;
  /**
   * Hands unstarted claims back to the queue, due now (a claim too close to its lease end).
   * Without it they wait for the lease reaper.
   */
  readonly release?: (deliveries: readonly Delivery[]) => Promise<void>;
  readonly logger: Logger;
  readonly metrics?: ActorMetrics;
}

export type { DomainActorSnapshot } from "./snapshots.ts";

export class DomainActor implements Actor {
  readonly domain: string;
  readonly #d: DomainActorDeps;
  #jobs = NO_JOBS;
  #inFlight = 0;
  #connections = 0;
  #idleWorkers = 0;
  #reconnectAt = 0;
  #connectFailures = 0;
  #suspended: { until: number; reason: string } | undefined;
  #lastReply: string | null = null;
  /** Pauses in a row because the message could not be read (store away). */
  #unsentPauses = 0;
  /** The first error a worker threw: ends run() so the supervisor restarts the actor. */
  #failure: { error: unknown } | undefined;
  readonly #waiters = new Set<() => void>();

  constructor(deps: DomainActorDeps) {
    this.#d = deps;
    this.domain = deps.domain;
  }

  /**
   * Only what can start before a fresh claim reaches its lease margin: the smaller of what the
   * rate budget lets through soon and what the connections can take (one transaction in flight
   * and {@link QUEUED_PER_CONNECTION} queued each), less what is already queued. More would sit
   * on leases that another instance cannot take, and may have to be handed back unsent.
   */
  demand(now: number): number {
    if (this.#blockedUntil(now) > now) return 0;
    const { policy } = this.#d;
    const window = (policy.leaseMs ?? Infinity) - policy.leaseMarginMs;
    const horizon = Math.max(0, Math.min(DEMAND_HORIZON_MS, window));
    const canStart = Math.min(
      policy.queueCapacity,
      this.#d.budget.available(now, { withinMs: horizon }),
      this.#d.concurrency.limit(now) * QUEUED_PER_CONNECTION,
    );
    return Math.max(0, canStart - this.#jobs.size);
  }

  /**
   * Takes what fits, whole messages only (a message started while there is room is taken
   * whole, so its recipients stay in one transaction); a claim already within its lease
   * margin is returned, to be released.
   */
  offer(deliveries: readonly Delivery[]): Delivery[] {
    const now = this.#d.clock.now();
    const margin = this.#d.policy.leaseMarginMs;
    let room = this.#d.policy.queueCapacity - this.#jobs.size;
    const taken: Delivery[] = [];
    const rest: Delivery[] = [];
    const fresh: Delivery[] = [];
    for (const d of deliveries) (d.leaseExpiresAt - margin > now ? fresh : rest).push(d);
    const messages = new Map<number, Delivery[]>();
    for (const d of fresh) {
      const m = messages.get(d.outboxId);
      if (m) m.push(d);
      else messages.set(d.outboxId, [d]);
    }
    for (const m of messages.values()) {
      if (room > 0) {
        taken.push(...m);
        room -= m.length;
      } else rest.push(...m);
    }
    this.#jobs = addJobs(this.#jobs, taken, this.#d.policy.maxRecipientsPerTransaction);
    this.#wake();
    return rest;
  }

  idle(): boolean {
    return this.#jobs.size === 0 && this.#inFlight === 0 && this.#connections === 0;
  }

  drain(domain?: string): Delivery[] {
    const { jobs, drained } = drainJobs(
      this.#jobs,
      domain === undefined ? undefined : (d) => d.domain === domain,
    );
    this.#jobs = jobs;
    return drained;
  }

  /** Operator suspend: no new transactions until `until`; queued work is returned by drain(). */
  suspend(until: number, reason: string): void {
    this.#suspended = { until, reason };
    this.#wake();
  }

  resume(): void {
    this.#suspended = undefined;
    this.#reconnectAt = 0;
    this.#wake();
  }

  snapshot(now: number): DomainActorSnapshot {
    const unreachable = this.#d.concurrency.unreachableUntil(now);
    const suspended = this.#suspended && this.#suspended.until > now ? this.#suspended : undefined;
    return {
      domain: this.domain,
      queued: this.#jobs.size,
      inFlight: this.#inFlight,
      connections: this.#connections,
      connectionLimit: this.#d.concurrency.limit(now),
      budgetAvailable: this.#d.budget.available(now),
      unreachableUntil: unreachable ?? null,
      suspendedUntil: suspended?.until ?? null,
      suspendReason: suspended?.reason ?? null,
      lastReply: this.#lastReply,
    };
  }

  async run(stop: AbortSignal, kill: AbortSignal): Promise<void> {
    const workers = new Set<Promise<void>>();
    const { clock } = this.#d;
    while (!stop.aborted) {
      const now = clock.now();
      let wakeAt = Infinity;
      while (this.#wantsWorker(now)) {
        const conn = this.#d.connectionBudget?.tryTake(now, 1);
        if (conn && !conn.ok) {
          wakeAt = Math.min(wakeAt, conn.retryAt);
          break;
        }
        // A worker that throws (a bug, broken infrastructure) ends the actor's run with that
        // error, so the supervisor restarts it; left unobserved it would reject unhandled.
        const w: Promise<void> = this.#worker(stop, kill).catch((err) => {
          this.#failure ??= { error: err };
        }).finally(() => {
          workers.delete(w);
          this.#wake();
        });
        workers.add(w);
      }
      if (this.#failure) break;
      const blocked = this.#blockedUntil(now);
      if (blocked > now && this.#jobs.size > 0) wakeAt = Math.min(wakeAt, blocked);
      await this.#waitForKick(stop, wakeAt === Infinity ? undefined : wakeAt - now);
    }
    await Promise.all(workers);
    if (this.#failure) throw this.#failure.error;
  }

  #wantsWorker(now: number): boolean {
    return this.#jobs.size > this.#idleWorkers * this.#d.policy.maxRecipientsPerTransaction &&
      this.#blockedUntil(now) <= now &&
      this.#connections < this.#d.concurrency.limit(now);
  }

  /** The time before which no connection may start (suspension, unreachable, reconnect pause). */
  #blockedUntil(now: number): number {
    const suspended = this.#suspended && this.#suspended.until > now ? this.#suspended.until : 0;
    const unreachable = this.#d.concurrency.unreachableUntil(now) ?? 0;
    return Math.max(suspended, unreachable, this.#reconnectAt);
  }

  async #worker(stop: AbortSignal, kill: AbortSignal): Promise<void> {
    this.#connections++;
    try {
      const result = await this.#d.deliverer.connect(this.#d.connectTo ?? this.domain, kill);
      if (result.kind === "connected" && kill.aborted) await result.session.close();
      // Cut by a drain's deadline: not the destination's failure; the queued work goes back.
      if (kill.aborted) return;
      if (result.kind === "failed") return await this.#connectFailed(result);
      this.#connectFailures = 0;
      this.#d.concurrency.connected(this.#d.clock.now());
      await this.#useSession(result.session, stop, kill);
    } finally {
      this.#connections--;
    }
  }

  async #useSession(session: Session, stop: AbortSignal, kill: AbortSignal): Promise<void> {
    this.#d.metrics?.connectionsChanged(1);
    session.onWanted?.(() => this.#wake());
    try {
      for (
        let sent = 0;
        sent < this.#d.policy.messagesPerConnection && session.usable && !stop.aborted;
        sent++
      ) {
        const job = await this.#nextJob(stop, session);
        if (!job) break;
        await this.#transaction(session, job, kill);
      }
    } finally {
      await session.close();
      this.#d.metrics?.connectionsChanged(-1);
    }
  }

  /** The next job the budget allows, waiting while the connection may idle; undefined to close. */
  async #nextJob(stop: AbortSignal, session?: Session): Promise<Job | undefined> {
    const { clock, policy } = this.#d;
    const idleEnd = clock.now() + policy.idleTimeoutMs;
    while (!stop.aborted) {
      const now = clock.now();
      if (this.#blockedUntil(now) > now) return undefined;
      const job = peekJob(this.#jobs);
      if (!job) {
        // Idle while another destination waits for this host's slot: give the slot up.
        if (now >= idleEnd || session?.wanted) return undefined;
        this.#idleWorkers++;
        try {
          await this.#waitForKick(stop, idleEnd - now);
        } finally {
          this.#idleWorkers--;
        }
        continue;
      }
      const n = Math.max(1, Math.min(job.deliveries.length, this.#d.budget.available(now)));
      const take = this.#d.budget.tryTake(now, n);
      if (take.ok) {
        const taken = takeJob(this.#jobs, n);
        this.#jobs = taken.jobs;
        return taken.job;
      }
      if (take.retryAt > idleEnd) return undefined;
      await this.#waitForKick(stop, take.retryAt - now);
    }
    return undefined;
  }

  async #transaction(session: Session, job: Job, kill: AbortSignal): Promise<void> {
    const { clock, policy } = this.#d;
    const start = clock.now();
    const expired = job.deliveries.filter((d) => d.expiresAt <= start);
    // A claim whose lease is about to end is not sent (it could still be in flight when the
    // reaper hands it to another instance: sent twice) but released at once, under its token,
    // so the next claim sends it instead of it waiting for the reaper.
    const fresh: Delivery[] = [];
    const stale: Delivery[] = [];
    for (const d of job.deliveries) {
      if (d.expiresAt <= start) continue;
      if (d.leaseExpiresAt - policy.leaseMarginMs > start) fresh.push(d);
      else stale.push(d);
    }
    if (stale.length > 0) await this.#release(stale);
    const outcomes: OutcomeRecord[] = expired.map((d) => ({
      delivery: d,
      status: "expired",
      attempted: false,
      code: null,
      reply: null,
    }));
    if (fresh.length > 0) {
      this.#inFlight += fresh.length;
      let results: RecipientResult[];
      let unsent: NothingSentError | undefined;
      try {
        results = await session.send(job.outboxId, fresh, kill);
      } catch (err) {
        if (err instanceof NothingSentError) unsent = err;
        // The port promises values; any other throw is a bug or broken infrastructure. Treat it
        // as a connection failure so the recipients are retried, not lost.
        const reply = `delivery failed: ${err instanceof Error ? err.message : String(err)}`;
        results = fresh.map(() => ({ kind: "transient", scope: "connection", code: null, reply }));
      } finally {
        this.#inFlight -= fresh.length;
      }
      if (unsent) {
        // Not an attempt: the recipients wait here (under their leases) and this actor pauses,
        // longer each time, until the message can be read again.
        this.#jobs = addJobs(this.#jobs, fresh, this.#d.policy.maxRecipientsPerTransaction);
        this.#reconnectAt = clock.now() + reconnectBackoff(++this.#unsentPauses);
        this.#lastReply = unsent.message;
        await this.#recordAll(outcomes);
        return;
      }
      this.#unsentPauses = 0;
      if (kill.aborted) {
        // A drain's deadline cut the transaction: what got no final answer goes back to the
        // queue, due now, without counting as an attempt or waiting out a retry delay.
        const cut = fresh.filter((_, i) => results[i]?.kind === "transient");
        if (cut.length > 0) await this.#release(cut);
        const kept = new Set(cut);
        fresh.splice(0, fresh.length, ...fresh.filter((d) => !kept.has(d)));
        results = results.filter((r) => r.kind !== "transient");
      }
      const end = clock.now();
      this.#d.metrics?.observeAttempt((end - start) / 1000);
      let throttled = false;
      let delivered = false;
      for (const [i, d] of fresh.entries()) {
        const r = results[i] ?? missingResult();
        this.#lastReply = r.reply;
        if (r.kind === "delivered") delivered = true;
        if (r.kind !== "delivered" && (r.scope === "connection" || r.code === 421)) {
          throttled = true;
        }
        outcomes.push(classifyOutcome(d, r, {
          now: end,
          mxHost: session.mxHost,
          tls: session.tls,
          durationMs: end - start,
          planRetry: this.#d.planRetry,
        }));
      }
      if (throttled) this.#d.concurrency.throttled(end);
      else if (delivered) this.#d.concurrency.success(end);
    }
    await this.#recordAll(outcomes);
  }

  async #connectFailed(result: Extract<ConnectResult, { kind: "failed" }>): Promise<void> {
    const now = this.#d.clock.now();
    this.#lastReply = result.result.reply;
    this.#connectFailures++;
    if (result.result.kind === "permanent") {
      // The destination cannot receive mail at all (null MX, no such domain): bounce all queued.
      await this.#failAll(result.result, now, result.mxHost);
      return;
    }
    this.#d.concurrency.connectFailed(now);
    const until = this.#d.concurrency.unreachableUntil(now);
    if (until !== undefined) {
      this.#d.logger.log({
        event: "domain.unreachable",
        domain: this.domain,
        until,
        reply: result.result.reply,
      });
      await this.#failAll(result.result, now, result.mxHost);
      return;
    }
    this.#reconnectAt = now + reconnectBackoff(this.#connectFailures);
  }

  /** Every queued delivery gets the connection-level failure as its outcome. */
  async #failAll(failure: FailureResult, now: number, mxHost?: string): Promise<void> {
    const { jobs, drained: queued } = drainJobs(this.#jobs);
    this.#jobs = jobs;
    await this.#recordAll(
      queued.map((d) => classifyOutcome(d, failure, { now, mxHost, planRetry: this.#d.planRetry })),
    );
  }

  async #release(deliveries: readonly Delivery[]): Promise<void> {
    if (!this.#d.release) return;
    try {
      await this.#d.release(deliveries);
    } catch {
      // Broken infrastructure: the lease reaper brings them back when their leases end.
    }
  }

  async #recordAll(outcomes: readonly OutcomeRecord[]): Promise<void> {
    const refused = await Promise.all(outcomes.map((o) => this.#d.record(o)));
    const lost = outcomes.filter((_, i) => refused[i]).map((o) => o.delivery.id);
    if (lost.length > 0) this.#d.logger.log({ event: "outcome.refused", ids: lost });
  }

  #wake(): void {
    for (const resolve of this.#waiters) resolve();
    this.#waiters.clear();
  }

  /** Waits for offer()/resume()/a worker ending, a timeout, or stop. */
  async #waitForKick(stop: AbortSignal, ms: number | undefined): Promise<void> {
    if (stop.aborted) return;
    const timer = new AbortController();
    let resolve!: () => void;
    const woken = new Promise<void>((r) => (resolve = r));
    this.#waiters.add(resolve);
    stop.addEventListener("abort", resolve, { once: true });
    const waits: Promise<unknown>[] = [woken];
    if (ms !== undefined) {
      waits.push(this.#d.clock.sleep(Math.max(0, ms), timer.signal).catch(() => {}));
    }
    try {
      await Promise.race(waits);
    } finally {
      timer.abort(WAIT_OVER);
      this.#waiters.delete(resolve);
      stop.removeEventListener("abort", resolve);
    }
  }
}

function missingResult(): RecipientResult {
  return {
    kind: "transient",
    scope: "message",
    code: null,
    reply: "no result reported for recipient",
  };
}
