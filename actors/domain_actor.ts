/**
 * The actor of one destination: it owns the destination's connections, rate budget, adaptive
 * concurrency and retry decisions. The supervisor feeds it deliveries (never more than its
 * `demand`), and it turns each into exactly one outcome.
 *
 * The decisions are a pure transition function (actors/domain_actor_transitions.ts, where the
 * behaviour is described). This class is the thin shell around it: it turns calls, signals,
 * timers and finished I/O into events, reads the ports each event needs (`Readings`), keeps the
 * state the transition returns, and performs the effects: connect, send a transaction, write
 * outcomes, hand claims back, sleep. A question the transition asks (of the rate budgets or the
 * concurrency port) is answered at once with the next event.
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
  DestinationState,
  Logger,
  OutcomeRecord,
  Random,
  Session,
} from "./ports.ts";
import { NothingSentError } from "./ports.ts";
import type { PlanRetry } from "./classify_outcome.ts";
import { oldestQueued } from "./job_queue.ts";
import type { DomainActorSnapshot, LimitsSnapshot } from "./snapshots.ts";
import type { SenderBudgets } from "./sender_budgets.ts";
import {
  type ActorEvent,
  type ActorInput,
  type ActorPolicy,
  blockedUntil,
  type ConcurrencySignal,
  type ConnId,
  type ConnPhase,
  demandHorizon,
  demandOf,
  type DomainActorState,
  type Effect,
  initialState,
  isIdle,
  type Owner,
  type Readings,
  snapshotOf,
  transition,
} from "./domain_actor_transitions.ts";

export type { PlanRetry } from "./classify_outcome.ts";
export type { DomainActorSnapshot } from "./snapshots.ts";
export {
  type ActorPolicy,
  DEMAND_HORIZON_MS,
  QUEUED_PER_CONNECTION,
} from "./domain_actor_transitions.ts";

/**
 * The reason every wait of this module is cut short with: `abort()` without one allocates a new
 * DOMException (with a stack trace) each time, and waits end thousands of times a second.
 */
const WAIT_OVER = new DOMException("The wait was cut short", "AbortError");

/** Connection phases with a transaction under way: an actor with one is not quiet. */
const BUSY: ReadonlySet<ConnPhase["kind"]> = new Set([
  "releasing",
  "sending",
  "cutting",
  "recording",
]);

/** The kill signal before run() hands over its own: nothing is connecting or sending yet. */
const NEVER = new AbortController().signal;

/**
 * Message-rate budget: the configured rates (GCRA, actors/rate_budget.ts), and the rate the
 * receiver tolerates when it adapts (actors/adaptive_rate.ts).
 */
export interface Budget {
  tryTake(now: number, n: number): { ok: true } | { ok: false; retryAt: number };
  /** What could be taken by `now + withinMs` (default: right now). */
  available(now: number, options?: { withinMs?: number }): number;
  /** The receiver asked to slow down: cut the rate (an adaptive budget; others ignore it). */
  slowDown?(now: number): void;
  /** A transaction was accepted: the rate may recover a step. */
  success?(now: number): void;
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
   * Hands unstarted claims back to the queue, due at `at` (default: now), unattempted: a claim
   * too close to its lease end, or mail held back by its sender's limit. Without it they wait
   * for the lease reaper.
   */
  readonly release?: (deliveries: readonly Delivery[], at?: number) => Promise<void>;
  /** The per-sender limits, shared by every actor of the process (absent: none). */
  readonly senders?: SenderBudgets;
  readonly logger: Logger;
  readonly metrics?: ActorMetrics;
  /** The rate budget and concurrency as operators see them (actors/create_actor.ts). */
  readonly describeLimits?: (now: number) => LimitsSnapshot;
  /** The budgets' and concurrency's state, for the supervisor to keep (actors/create_actor.ts). */
  readonly saveState?: () => DestinationState;
}

export class DomainActor implements Actor {
  readonly domain: string;
  readonly #d: DomainActorDeps;
  #state: DomainActorState;
  /** Open sessions, by connection. */
  readonly #sessions = new Map<ConnId, Session>();
  /** Armed timers, by owner. */
  readonly #timers = new Map<Owner, AbortController>();
  /** run()'s kill signal: aborts connects and transactions. */
  #kill: AbortSignal = NEVER;
  /** The first error something threw: run() ends with it so the supervisor restarts the actor. */
  #failure: { error: unknown } | undefined;
  #ended: (() => void) | undefined;

  constructor(deps: DomainActorDeps) {
    this.#d = deps;
    this.domain = deps.domain;
    this.#state = initialState({
      domain: deps.domain,
      policy: deps.policy,
      planRetry: deps.planRetry,
      connectionBudget: deps.connectionBudget !== undefined,
    });
  }

  demand(now: number): number {
    const { budget, concurrency, policy } = this.#d;
    if (blockedUntil(this.#state, now, concurrency.unreachableUntil(now)) > now) return 0;
    const soon = budget.available(now, { withinMs: demandHorizon(policy) });
    return demandOf(this.#state, concurrency.limit(now), soon, now);
  }

  offer(deliveries: readonly Delivery[]): Delivery[] {
    return givenBack(this.#dispatch({ kind: "offer", deliveries }));
  }

  idle(): boolean {
    return isIdle(this.#state);
  }

  quiet(): boolean {
    const s = this.#state;
    return s.jobs.size === 0 && s.conns.every((c) => !BUSY.has(c.phase.kind));
  }

  drain(domain?: string): Delivery[] {
    return givenBack(this.#dispatch({ kind: "drain", domain }));
  }

  /** Operator suspend: no new transactions until `until`; queued work is returned by drain(). */
  suspend(until: number, reason: string): void {
    this.#dispatch({ kind: "suspend", until, reason });
  }

  resume(): void {
    this.#dispatch({ kind: "resume" });
  }

  snapshot(now: number): DomainActorSnapshot {
    const { budget, concurrency, describeLimits } = this.#d;
    const s = snapshotOf(this.#state, {
      now,
      limit: concurrency.limit(now),
      unreachableUntil: concurrency.unreachableUntil(now),
      budgetAvailable: budget.available(now),
    });
    return describeLimits ? { ...s, limits: describeLimits(now) } : s;
  }

  saveState(): DestinationState | undefined {
    return this.#d.saveState?.();
  }

  run(stop: AbortSignal, kill: AbortSignal): Promise<void> {
    this.#kill = kill;
    const onStop = () => this.#dispatchSafely({ kind: "stop" });
    const onKill = () => this.#dispatchSafely({ kind: "kill" });
    const ended = new Promise<void>((resolve) => (this.#ended = resolve)).finally(() => {
      stop.removeEventListener("abort", onStop);
      kill.removeEventListener("abort", onKill);
    });
    // Flags first: an actor stopped before it ran opens nothing.
    if (kill.aborted) onKill();
    else kill.addEventListener("abort", onKill, { once: true });
    if (stop.aborted) onStop();
    else stop.addEventListener("abort", onStop, { once: true });
    // Told outside the dispatch that changed the limit (another actor's, or this one's), once
    // per burst of changes.
    let told = false;
    const unsubscribe = this.#d.senders?.onChange(() => {
      if (told) return;
      told = true;
      queueMicrotask(() => {
        told = false;
        // Only an actor whose work waits for a sender has anything to reconsider.
        const waiting = Object.keys(this.#state.senderWaits).length > 0;
        if (this.#ended && waiting) this.#dispatchSafely({ kind: "senders_changed" });
      });
    });
    this.#dispatchSafely({ kind: "start" });
    return ended.finally(() => unsubscribe?.()).then(() => {
      if (this.#failure) throw this.#failure.error;
    });
  }

  /** One step of the transition; returns its effects, once performed. */
  #dispatch(input: ActorInput): readonly Effect[] {
    const event: ActorEvent = { ...input, at: this.#readings() };
    const { state, effects } = transition(this.#state, event);
    this.#state = state;
    for (const effect of effects) this.#perform(effect);
    return effects;
  }

  /** For run(), listeners and timers: a throw there would escape to whoever fired them. */
  #dispatchSafely(input: ActorInput): void {
    try {
      this.#dispatch(input);
    } catch (err) {
      this.#abandon(err);
    }
  }

  #readings(): Readings {
    const { clock, concurrency } = this.#d;
    const now = clock.now();
    const wanted: ConnId[] = [];
    for (const [conn, session] of this.#sessions) if (session.wanted) wanted.push(conn);
    return {
      now,
      limit: concurrency.limit(now),
      unreachableUntil: concurrency.unreachableUntil(now),
      wanted,
    };
  }

  #perform(effect: Effect): void {
    try {
      this.#do(effect);
    } catch (err) {
      this.#crashed(err, ownerOf(effect));
    }
  }

  #do(effect: Effect): void {
    const { clock, metrics } = this.#d;
    switch (effect.kind) {
      case "give_back":
        return; // the caller of offer() or drain() takes them from the effects
      case "connect":
        return this.#connect(effect.conn);
      case "take_connection":
        return this.#takeConnection();
      case "take_budget":
        return this.#takeBudget(effect.conn, effect.max, effect.sender);
      case "sender_done":
        return this.#d.senders?.done(effect.sender);
      case "hand_back":
        this.#release(effect.deliveries, effect.at).catch(() => {});
        return;
      case "report":
        this.#report(effect.signal, clock.now());
        if (effect.conn !== undefined) this.#dispatch({ kind: "reported", conn: effect.conn });
        return;
      case "watch":
        return this.#sessions.get(effect.conn)?.onWanted?.(() => {
          this.#dispatchSafely({ kind: "wanted" });
        });
      case "release":
        return this.#follow(effect.conn, this.#release(effect.deliveries), () => ({
          kind: "released",
          conn: effect.conn,
        }));
      case "send":
        return this.#follow(
          effect.conn,
          this.#send(effect.conn, effect.outboxId, effect.recipients),
          (input) => input,
        );
      case "record":
        return this.#follow(effect.conn, this.#recordAll(effect.outcomes), () => ({
          kind: "recorded",
          conn: effect.conn,
          usable: this.#sessions.get(effect.conn)?.usable ?? false,
        }));
      case "close":
        return this.#close(effect.conn);
      case "set_timer":
        return this.#setTimer(effect.owner, effect.at);
      case "clear_timer":
        return this.#clearTimer(effect.owner);
      case "log":
        return this.#d.logger.log(effect.event);
      case "count_connection":
        return metrics?.connectionsChanged(effect.delta);
      case "observe_attempt":
        return metrics?.observeAttempt(effect.seconds);
      case "finish":
        return this.#finish();
    }
  }

  /** A signal for the concurrency port, and for the rate budget where it adapts too. */
  #report(signal: ConcurrencySignal, now: number): void {
    const { budget, concurrency } = this.#d;
    switch (signal) {
      case "slow_down":
        concurrency.throttled(now);
        return budget.slowDown?.(now);
      case "success":
        concurrency.success(now);
        return budget.success?.(now);
      default:
        return concurrency[SIGNALS[signal]](now);
    }
  }

  /** When `work` settles, the event it makes; when it rejects, the crash of `conn`. */
  #follow<T>(conn: ConnId, work: Promise<T>, toEvent: (value: T) => ActorInput): void {
    work.then(
      (value) => this.#dispatch(toEvent(value)),
      (err) => this.#crashed(err, conn),
    ).catch((err) => this.#abandon(err));
  }

  #connect(conn: ConnId): void {
    const destination = this.#d.connectTo ?? this.domain;
    const waitingSince = oldestQueued(this.#state.jobs);
    const connecting = this.#d.deliverer.connect(destination, this.#kill, waitingSince);
    this.#follow(conn, connecting, (result) => {
      if (result.kind === "failed") return connectFailed(conn, result);
      const { session } = result;
      this.#sessions.set(conn, session);
      const { mxHost, tls, usable, tlsDetail } = session;
      return { kind: "connected", conn, mxHost, tls, usable, tlsDetail };
    });
  }

  #takeConnection(): void {
    const r = this.#d.connectionBudget?.tryTake(this.#d.clock.now(), 1) ?? { ok: true };
    this.#dispatch(
      r.ok ? { kind: "connection_granted" } : { kind: "connection_refused", retryAt: r.retryAt },
    );
  }

  /**
   * As much of `max` as the budget (and the sender's, for a limited sender) lets through now, at
   * least one (a refusal says when). The sender's budget is asked first: its cells go back when
   * the destination's budget refuses, which cannot be said of the destination's.
   */
  #takeBudget(conn: ConnId, max: number, sender: string | undefined): void {
    const { budget, clock, senders } = this.#d;
    const now = clock.now();
    let n = Math.max(1, Math.min(max, budget.available(now)));
    const limited = sender !== undefined && senders?.has(sender) === true;
    if (limited) {
      const s = senders!.take(sender, now, n);
      if (!s.ok) {
        const { retryAt, spacingMs } = s;
        this.#dispatch({ kind: "sender_refused", conn, sender, retryAt, spacingMs });
        return;
      }
      n = s.n;
    }
    const r = budget.tryTake(now, n);
    if (!r.ok && limited) senders!.untake(sender, n);
    this.#dispatch(
      r.ok
        ? { kind: "budget_granted", conn, n }
        : { kind: "budget_refused", conn, retryAt: r.retryAt },
    );
  }

  async #send(
    conn: ConnId,
    outboxId: number,
    recipients: readonly Delivery[],
  ): Promise<ActorInput> {
    try {
      const session = this.#sessions.get(conn);
      if (!session) throw new Error(`no session for connection ${conn}`);
      const results = await session.send(outboxId, recipients, this.#kill);
      return { kind: "sent", conn, results };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { kind: "send_threw", conn, message, nothingSent: err instanceof NothingSentError };
    }
  }

  async #release(deliveries: readonly Delivery[], at?: number): Promise<void> {
    if (!this.#d.release) return;
    try {
      await this.#d.release(deliveries, at);
    } catch {
      // Broken infrastructure: the lease reaper brings them back when their leases end.
    }
  }

  async #recordAll(outcomes: readonly OutcomeRecord[]): Promise<void> {
    const refused = await Promise.all(outcomes.map((o) => this.#d.record(o)));
    const lost = outcomes.filter((_, i) => refused[i]).map((o) => o.delivery.id);
    if (lost.length > 0) this.#d.logger.log({ event: "outcome.refused", ids: lost });
  }

  #close(conn: ConnId): void {
    const session = this.#sessions.get(conn);
    // Async, so that even a close() that throws at once lets go of the session.
    const closing = (async () => await session?.close())().finally(() => {
      this.#sessions.delete(conn);
    });
    this.#follow(conn, closing, () => ({ kind: "closed", conn }));
  }

  #setTimer(owner: Owner, at: number): void {
    this.#clearTimer(owner);
    const timer = new AbortController();
    this.#timers.set(owner, timer);
    const { clock } = this.#d;
    clock.sleep(Math.max(0, at - clock.now()), timer.signal).then(() => {
      if (this.#timers.get(owner) !== timer) return;
      this.#timers.delete(owner);
      this.#dispatchSafely({ kind: "timer", owner });
    }, () => {});
  }

  #clearTimer(owner: Owner): void {
    this.#timers.get(owner)?.abort(WAIT_OVER);
    this.#timers.delete(owner);
  }

  /** Performing an effect threw: the transition hears of it, run() ends with the first error. */
  #crashed(err: unknown, owner: Owner | undefined): void {
    this.#failure ??= { error: err };
    this.#dispatch({ kind: "crashed", owner });
  }

  /** The shell itself failed (a port used for readings threw): run() ends at once. */
  #abandon(err: unknown): void {
    this.#failure ??= { error: err };
    this.#finish();
  }

  #finish(): void {
    for (const owner of [...this.#timers.keys()]) this.#clearTimer(owner);
    this.#ended?.();
    this.#ended = undefined;
  }
}

const SIGNALS = {
  connected: "connected",
  connect_failed: "connectFailed",
  throttled: "throttled",
} as const satisfies Record<string, keyof Concurrency>;

function connectFailed(
  conn: ConnId,
  result: Extract<ConnectResult, { kind: "failed" }>,
): ActorInput {
  return {
    kind: "connect_failed",
    conn,
    failure: result.result,
    mxHost: result.mxHost,
    ...(result.tlsDetail ? { tlsDetail: result.tlsDetail } : {}),
  };
}

function givenBack(effects: readonly Effect[]): Delivery[] {
  return effects.flatMap((e) => e.kind === "give_back" ? e.deliveries : []);
}

/** Whose the effect is, for a crash while performing it. */
function ownerOf(effect: Effect): Owner | undefined {
  if (effect.kind === "take_connection") return "loop";
  return "conn" in effect ? effect.conn : undefined;
}
