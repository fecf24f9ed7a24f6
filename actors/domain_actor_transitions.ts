/**
 * The domain actor's decisions as a pure transition function: `transition(state, event)` gives
 * the next state and the effects to perform (open a connection, send a transaction, write
 * outcomes, set a timer...). It calls no port and reads no clock, so every decision can be
 * tested as a table of steps on made-up times; actors/domain_actor.ts is the shell that
 * performs the effects and turns what comes of them into the next events.
 *
 * What a decision reads of the ports comes with each event, as `at`: the time, the adaptive
 * connection limit, until when the destination is unreachable, which sessions another
 * connection waits for. Where the next move depends on what a port answers (may one more
 * connection open; how much of this job does the rate budget let through; what did this
 * connection's success or failure do to the limits) the transition asks with an effect and
 * stops there: the shell answers at once, with the next event, and at most one question is
 * open at a time. The owners still to decide after a kick wait their turn on the agenda.
 *
 * Behaviour: the run loop (owner `"loop"`) opens connections while there is queued work beyond
 * what idle connections can take, nothing blocks the destination (an operator's suspension,
 * unreachability, a reconnect pause) and the adaptive limit has room. A connection sends one
 * job per transaction (one message's recipients here, up to `maxRecipientsPerTransaction`) as
 * the rate budget allows, writes its outcomes, and goes on until it has taken
 * `messagesPerConnection` jobs, breaks, idles `idleTimeoutMs`, or another connection waits for
 * its host slot. A kick (work offered, suspend or resume, a connection ending, a slot wanted)
 * wakes the run loop and then every waiting connection; a timer wakes only its owner.
 *
 * @module
 */
import { reconnectBackoff, type ReconnectPolicy } from "./backoff.ts";
import { classifyOutcome, type PlanRetry } from "./classify_outcome.ts";
import {
  addJobs,
  drainJobs,
  type Job,
  type Jobs,
  NO_JOBS,
  peekJob,
  senderOf,
  takeJob,
} from "./job_queue.ts";
import type {
  ActorLogEvent as LogEvent,
  Delivery,
  FailureResult,
  OutcomeRecord,
  RecipientResult,
  TlsDetail,
} from "./ports.ts";
import type { DomainActorSnapshot } from "./snapshots.ts";

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

/**
 * The pause after a throttling reply that names no time: 1 s, doubling with each further one
 * before a transaction succeeds, up to 5 minutes. Short at first, since the rate cut is the main
 * answer and the pause only lets the receiver's window drain; long when it keeps refusing.
 */
export const SLOW_DOWN_PAUSE: ReconnectPolicy = { first: 1_000, factor: 2, max: 5 * 60_000 };
/**
 * The longest pause a receiver's "try again in N" may impose on the whole destination: the hint
 * is free text (relay/smtp/retry_hint.ts) and one misread reply must not stall it for a day.
 */
export const MAX_HINTED_PAUSE_MS = 15 * 60_000;

/** How far ahead demand counts the rate budget: keeps a throttled destination's rows queued. */
export const DEMAND_HORIZON_MS = 2_000;
/** Deliveries queued per connection (besides the one in flight), so none waits for a claim. */
export const QUEUED_PER_CONNECTION = 2;

export interface ActorConfig {
  /** The destination's name: a domain, or an MX group's key. */
  readonly domain: string;
  readonly policy: ActorPolicy;
  /** The retry schedule; deterministic in tests (its randomness is the caller's). */
  readonly planRetry: PlanRetry;
  /** Whether a connection-rate budget must grant each new connection. */
  readonly connectionBudget: boolean;
}

export type ConnId = number;
/** Who a timer or a question belongs to: the run loop or one connection. */
export type Owner = "loop" | ConnId;

/** What the shell read of the ports when the event happened. */
export interface Readings {
  readonly now: number;
  /** The adaptive connection limit in force. */
  readonly limit: number;
  /** Until when the destination counts as unreachable, if it does. */
  readonly unreachableUntil: number | undefined;
  /** Connections whose host slot another connection waits for. */
  readonly wanted: readonly ConnId[];
}

/** The signals the concurrency port takes. */
export type ConcurrencySignal =
  | "connected"
  | "connect_failed"
  | "success"
  | "throttled"
  /** A throttling reply: the concurrency limit and the message rate are both cut. */
  | "slow_down";

export type Effect =
  /** Deliveries back to the caller of offer() or drain(); the supervisor releases them. */
  | { readonly kind: "give_back"; readonly deliveries: readonly Delivery[] }
  /** Opens a connection: answered by `connected` or `connect_failed`. */
  | { readonly kind: "connect"; readonly conn: ConnId }
  /** Question to the connection-rate budget: `connection_granted` or `connection_refused`. */
  | { readonly kind: "take_connection" }
  /**
   * Question to the message-rate budget (and to the budget of the job's `sender`, when it has a
   * sender limit): up to `max` cells (at least one), answered by `budget_granted` with how many,
   * `budget_refused` with when, or `sender_refused` when the sender's limit holds the job back.
   */
  | {
    readonly kind: "take_budget";
    readonly conn: ConnId;
    readonly max: number;
    readonly sender?: string | undefined;
  }
  /** A transaction of `sender` ended (its slot in the sender's cap frees). */
  | { readonly kind: "sender_done"; readonly sender: string }
  /**
   * Queued deliveries held back by their sender's limit, beyond what this actor keeps at hand,
   * go back to the queue unattempted, due at `at`, so they do not fill the actor's queue ahead
   * of other senders' mail.
   */
  | { readonly kind: "hand_back"; readonly deliveries: readonly Delivery[]; readonly at: number }
  /**
   * Tells the concurrency port. With `conn`, a question: the next decision for that connection
   * depends on what the port makes of it, read from the `reported` event that answers.
   */
  | { readonly kind: "report"; readonly signal: ConcurrencySignal; readonly conn?: ConnId }
  /** Listens for another connection wanting this session's host slot (then `wanted`). */
  | { readonly kind: "watch"; readonly conn: ConnId }
  /** Hands claims back to the queue, due now: answered by `released`. */
  | { readonly kind: "release"; readonly conn: ConnId; readonly deliveries: readonly Delivery[] }
  /** One SMTP transaction: answered by `sent` or `send_threw`. */
  | {
    readonly kind: "send";
    readonly conn: ConnId;
    readonly outboxId: number;
    readonly recipients: readonly Delivery[];
  }
  /** Writes outcomes: answered by `recorded`. */
  | { readonly kind: "record"; readonly conn: ConnId; readonly outcomes: readonly OutcomeRecord[] }
  /** Closes the session: answered by `closed`. */
  | { readonly kind: "close"; readonly conn: ConnId }
  /** (Re)arms the owner's one timer: `timer` at `at`. */
  | { readonly kind: "set_timer"; readonly owner: Owner; readonly at: number }
  | { readonly kind: "clear_timer"; readonly owner: Owner }
  | { readonly kind: "log"; readonly event: LogEvent }
  /** An SMTP session came into use (+1) or closed (-1). */
  | { readonly kind: "count_connection"; readonly delta: 1 | -1 }
  /** One transaction, first command to final reply (and any hand-back of a cut). */
  | { readonly kind: "observe_attempt"; readonly seconds: number }
  /** run() ends: nothing is left running (with the first error, if something threw). */
  | { readonly kind: "finish" };

/** The effects that ask a question; the shell answers each at once. */
export type Question =
  | Extract<Effect, { kind: "take_connection" | "take_budget" }>
  | { readonly kind: "report"; readonly signal: ConcurrencySignal; readonly conn: ConnId };

export type ActorInput =
  /** run() began: the run loop may open connections. */
  | { readonly kind: "start" }
  /** run()'s stop signal: no new transactions; connections close after the one in flight. */
  | { readonly kind: "stop" }
  /** run()'s kill signal: transactions are cut; what got no final answer goes back. */
  | { readonly kind: "kill" }
  | { readonly kind: "offer"; readonly deliveries: readonly Delivery[] }
  /** Queued, unstarted work handed over (of one member domain, when given). */
  | { readonly kind: "drain"; readonly domain?: string | undefined }
  | { readonly kind: "suspend"; readonly until: number; readonly reason: string }
  | { readonly kind: "resume" }
  /** Another connection waits for the host slot of one of the actor's sessions. */
  | { readonly kind: "wanted" }
  | { readonly kind: "timer"; readonly owner: Owner }
  | { readonly kind: "connection_granted" }
  | { readonly kind: "connection_refused"; readonly retryAt: number }
  | { readonly kind: "budget_granted"; readonly conn: ConnId; readonly n: number }
  | { readonly kind: "budget_refused"; readonly conn: ConnId; readonly retryAt: number }
  /**
   * The job's sender may not send now: its jobs wait (not an attempt) until `retryAt` or until
   * `senders_changed`; `spacingMs` is the sender's spacing, to spread what goes back.
   */
  | {
    readonly kind: "sender_refused";
    readonly conn: ConnId;
    readonly sender: string;
    readonly retryAt: number;
    readonly spacingMs: number;
  }
  /** A sender limit may have room again (a reservation landed, a slot freed). */
  | { readonly kind: "senders_changed" }
  | {
    readonly kind: "connected";
    readonly conn: ConnId;
    readonly mxHost: string;
    readonly tls: boolean;
    readonly usable: boolean;
    readonly tlsDetail?: TlsDetail | undefined;
  }
  | {
    readonly kind: "connect_failed";
    readonly conn: ConnId;
    readonly failure: FailureResult;
    readonly mxHost?: string | undefined;
    /** How TLS was decided at that host, when TLS is why it failed. */
    readonly tlsDetail?: TlsDetail | undefined;
  }
  | { readonly kind: "reported"; readonly conn: ConnId }
  | { readonly kind: "released"; readonly conn: ConnId }
  | { readonly kind: "sent"; readonly conn: ConnId; readonly results: readonly RecipientResult[] }
  /** send() threw; `nothingSent` when the message could not even be read (not an attempt). */
  | {
    readonly kind: "send_threw";
    readonly conn: ConnId;
    readonly message: string;
    readonly nothingSent: boolean;
  }
  /** Outcomes written; `usable`: whether the session can take another transaction. */
  | { readonly kind: "recorded"; readonly conn: ConnId; readonly usable: boolean }
  | { readonly kind: "closed"; readonly conn: ConnId }
  /** Performing an effect of `owner` threw (a bug, broken infrastructure). */
  | { readonly kind: "crashed"; readonly owner?: Owner | undefined };

export type ActorEvent = ActorInput & { readonly at: Readings };

interface Session {
  readonly mxHost: string;
  readonly tls: boolean;
  readonly tlsDetail?: TlsDetail | undefined;
}

/** A transaction under way. */
export interface Transaction {
  readonly outboxId: number;
  readonly start: number;
  /** Recipients sent (while `cutting`: those that got a final answer). */
  readonly recipients: readonly Delivery[];
  /** Outcomes decided without sending: deliveries past their `expires_at`. */
  readonly outcomes: readonly OutcomeRecord[];
}

export type ConnPhase =
  | { readonly kind: "connecting" }
  /** Connected; the concurrency port is told before the session is used. */
  | { readonly kind: "greeted"; readonly usable: boolean }
  /** Could not connect; the concurrency port is told, then reachability decides. */
  | {
    readonly kind: "refused";
    readonly failure: FailureResult;
    readonly mxHost: string | undefined;
    readonly tlsDetail: TlsDetail | undefined;
  }
  /** Looking for its next job; it may wait for work or budget until `idleEnd`. */
  | { readonly kind: "seeking"; readonly idleEnd: number }
  | {
    readonly kind: "waiting";
    readonly idleEnd: number;
    /** Work to come, the rate budget, or the end of a pause the receiver asked for. */
    readonly for: "work" | "budget" | "pause";
    /** Its timer. */
    readonly until: number;
  }
  /** The rate budget is asked for the next job. */
  | { readonly kind: "asking"; readonly idleEnd: number }
  /** Claims too close to their lease end go back before the rest is sent. */
  | { readonly kind: "releasing"; readonly tx: Transaction }
  | { readonly kind: "sending"; readonly tx: Transaction }
  /** A kill cut the transaction: what got no final answer goes back first. */
  | {
    readonly kind: "cutting";
    readonly tx: Transaction;
    readonly results: readonly RecipientResult[];
  }
  /** Outcomes are being written; then the next job, or the end (a failed connection). */
  | { readonly kind: "recording"; readonly then: "next" | "end" }
  | { readonly kind: "closing" };

export interface Conn {
  readonly id: ConnId;
  /** Set once connected: the shell holds a session to close. */
  readonly session: Session | undefined;
  /** Whether the session was counted open (and must be counted closed). */
  readonly counted: boolean;
  /** Jobs taken on this connection. */
  readonly jobs: number;
  /** The sender whose transaction slot this connection holds, until its outcomes are written. */
  readonly carrying?: string | undefined;
  readonly phase: ConnPhase;
}

/** A sender whose limit refused a job: its jobs wait until `until`. */
export interface SenderWait {
  readonly until: number;
  /** The sender's spacing: what is handed back is spread by it. */
  readonly spacingMs: number;
}

export interface DomainActorState {
  readonly config: ActorConfig;
  readonly started: boolean;
  readonly stopped: boolean;
  readonly killed: boolean;
  /** Something threw: no new connections, and run() ends with the error once all are gone. */
  readonly failed: boolean;
  readonly finished: boolean;
  readonly jobs: Jobs;
  readonly conns: readonly Conn[];
  readonly nextConn: ConnId;
  /** No connection starts before this (after connect failures, or an unreadable message). */
  readonly reconnectAt: number;
  /** No transaction starts before this: the receiver asked to slow down. */
  readonly pausedUntil: number;
  /** Throttling replies since the last accepted transaction (lengthens the pause). */
  readonly slowDowns: number;
  /** The last throttling reply and when it came (operators see it). */
  readonly lastThrottle: { readonly reply: string; readonly at: number } | undefined;
  readonly connectFailures: number;
  /** Pauses in a row because the message could not be read (store away). */
  readonly unsentPauses: number;
  readonly suspended: { readonly until: number; readonly reason: string } | undefined;
  readonly lastReply: string | null;
  /** Senders whose limit refused a job, and until when their jobs wait here. */
  readonly senderWaits: Readonly<Record<string, SenderWait>>;
  /** When the run loop's timer is armed for. */
  readonly loopTimer: number | undefined;
  /** Owners still to decide after a kick, in order. */
  readonly agenda: readonly Owner[];
  /** The owner whose question is open: the next event answers it. */
  readonly asking: Owner | undefined;
}

export interface Transition {
  readonly state: DomainActorState;
  readonly effects: readonly Effect[];
}

export function initialState(config: ActorConfig): DomainActorState {
  return {
    config,
    started: false,
    stopped: false,
    killed: false,
    failed: false,
    finished: false,
    jobs: NO_JOBS,
    conns: [],
    nextConn: 1,
    reconnectAt: 0,
    pausedUntil: 0,
    slowDowns: 0,
    lastThrottle: undefined,
    connectFailures: 0,
    unsentPauses: 0,
    suspended: undefined,
    lastReply: null,
    senderWaits: {},
    loopTimer: undefined,
    agenda: [],
    asking: undefined,
  };
}

/** One step: the event, then every owner it lets decide, until done or a question is open. */
export function transition(state: DomainActorState, event: ActorEvent): Transition {
  const t: Turn = { s: state, at: event.at, effects: [] };
  handle(t, event);
  advance(t);
  finishIfDone(t);
  return { state: t.s, effects: t.effects };
}

// ---- Queries (the shell reads the ports they need) ----

/**
 * The time before which no connection may start (suspension, unreachable, reconnect pause, a
 * receiver's slow-down pause).
 */
export function blockedUntil(
  s: DomainActorState,
  now: number,
  unreachableUntil: number | undefined,
): number {
  return Math.max(closedUntil(s, now, unreachableUntil), s.pausedUntil);
}

/** As {@link blockedUntil}, less the slow-down pause: open connections close for these. */
function closedUntil(
  s: DomainActorState,
  now: number,
  unreachableUntil: number | undefined,
): number {
  const suspended = s.suspended && s.suspended.until > now ? s.suspended.until : 0;
  return Math.max(suspended, unreachableUntil ?? 0, s.reconnectAt);
}

/** How far ahead demand counts the rate budget: within a fresh claim's lease, before its margin. */
export function demandHorizon(policy: ActorPolicy): number {
  const window = (policy.leaseMs ?? Infinity) - policy.leaseMarginMs;
  return Math.max(0, Math.min(DEMAND_HORIZON_MS, window));
}

/**
 * Only what can start before a fresh claim reaches its lease margin: the smaller of what the
 * rate budget lets through within {@link demandHorizon} (`budgetSoon`) and what the connections
 * can take (one transaction in flight and {@link QUEUED_PER_CONNECTION} queued each), less what
 * is already queued. More would sit on leases another instance cannot take, and may have to be
 * handed back unsent. The caller answers 0 itself while the destination is blocked.
 */
export function demandOf(
  s: DomainActorState,
  limit: number,
  budgetSoon: number,
  now = -Infinity,
): number {
  const { queueCapacity } = s.config.policy;
  const canStart = Math.min(queueCapacity, budgetSoon, limit * QUEUED_PER_CONNECTION);
  // Jobs that wait for their sender's limit do not count as work about to start, so other
  // senders' mail is still claimed for this destination; the queue's capacity bounds both.
  const room = queueCapacity - s.jobs.size;
  return Math.max(0, Math.min(room, canStart - readySize(s, now)));
}

/** Whether a job's sender lets it start now, as far as this actor last heard. */
function senderReady(s: DomainActorState, now: number): (job: Job) => boolean {
  return (job) => {
    const sender = limitedSender(job, now);
    return sender === undefined || !((s.senderWaits[sender]?.until ?? -Infinity) > now);
  };
}

/**
 * The sender limit a job is held to: its sender's, unless all its deliveries have expired (they
 * end without being sent, so no sender limit should keep them waiting).
 */
function limitedSender(job: Job, now: number): string | undefined {
  const sender = senderOf(job);
  if (sender === undefined || job.deliveries.every((d) => d.expiresAt <= now)) return undefined;
  return sender;
}

function hasSenderWaits(s: DomainActorState): boolean {
  for (const _ in s.senderWaits) return true;
  return false;
}

/** Deliveries queued whose sender lets them start now. */
export function readySize(s: DomainActorState, now: number): number {
  // No sender waits (always, without per-sender limits): every queued delivery is ready.
  if (!hasSenderWaits(s)) return s.jobs.size;
  const ready = senderReady(s, now);
  let n = 0;
  for (const lane of s.jobs.lanes) {
    for (const job of lane) if (ready(job)) n += job.deliveries.length;
  }
  return n;
}

/** When the earliest sender wait of a queued job ends (Infinity: none waits). */
function senderWaitEnd(s: DomainActorState, now: number): number {
  if (!hasSenderWaits(s)) return Infinity;
  let end = Infinity;
  for (const lane of s.jobs.lanes) {
    for (const job of lane) {
      const sender = limitedSender(job, now);
      const until = sender === undefined ? undefined : s.senderWaits[sender]?.until;
      if (until !== undefined && until > now) end = Math.min(end, until);
    }
  }
  return end;
}

/** Recipients in a transaction on the wire. */
export function inFlight(s: DomainActorState): number {
  let n = 0;
  for (const c of s.conns) if (c.phase.kind === "sending") n += c.phase.tx.recipients.length;
  return n;
}

export function isIdle(s: DomainActorState): boolean {
  return s.jobs.size === 0 && inFlight(s) === 0 && s.conns.length === 0;
}

export function snapshotOf(
  s: DomainActorState,
  at: Omit<Readings, "wanted"> & { readonly budgetAvailable: number },
): DomainActorSnapshot {
  const suspended = s.suspended && s.suspended.until > at.now ? s.suspended : undefined;
  return {
    domain: s.config.domain,
    queued: s.jobs.size,
    inFlight: inFlight(s),
    connections: s.conns.length,
    connectionLimit: at.limit,
    budgetAvailable: at.budgetAvailable,
    unreachableUntil: at.unreachableUntil ?? null,
    suspendedUntil: suspended?.until ?? null,
    suspendReason: suspended?.reason ?? null,
    lastReply: s.lastReply,
    pausedUntil: s.pausedUntil > at.now ? s.pausedUntil : null,
    lastThrottle: s.lastThrottle ?? null,
  };
}

// ---- The step ----

/** A step under way: the state so far and the effects so far (local to one transition()). */
interface Turn {
  s: DomainActorState;
  readonly at: Readings;
  readonly effects: Effect[];
}

function handle(t: Turn, e: ActorEvent): void {
  switch (e.kind) {
    case "start":
      update(t, { started: true });
      return kick(t);
    case "stop":
      update(t, { stopped: true });
      return kick(t);
    case "kill":
      return update(t, { killed: true });
    case "offer":
      return offer(t, e.deliveries);
    case "drain":
      return drain(t, e.domain);
    case "suspend":
      update(t, { suspended: { until: e.until, reason: e.reason } });
      return kick(t);
    case "resume":
      update(t, { suspended: undefined, reconnectAt: 0, pausedUntil: 0 });
      return kick(t);
    case "wanted":
      return kick(t);
    case "timer":
      return timerFired(t, e.owner);
    case "connection_granted":
      return connectionGranted(t);
    case "connection_refused":
      return connectionRefused(t, e.retryAt);
    case "budget_granted":
      return budgetGranted(t, e.conn, e.n);
    case "budget_refused":
      return budgetRefused(t, e.conn, e.retryAt);
    case "sender_refused":
      return senderRefused(t, e);
    case "senders_changed":
      update(t, { senderWaits: {} });
      return kick(t);
    case "connected":
      return connected(t, e);
    case "connect_failed":
      return connectFailed(t, e);
    case "reported":
      return reported(t, e.conn);
    case "released":
      return released(t, e.conn);
    case "sent":
      return sent(t, e.conn, e.results);
    case "send_threw":
      return sendThrew(t, e.conn, e.message, e.nothingSent);
    case "recorded":
      return recorded(t, e.conn, e.usable);
    case "closed":
      return closed(t, e.conn);
    case "crashed":
      return crashed(t, e.owner);
  }
}

function update(t: Turn, patch: Partial<DomainActorState>): void {
  t.s = { ...t.s, ...patch };
}

/**
 * Takes what fits, whole messages only (a message started while there is room is taken whole,
 * so its recipients stay in one transaction); a claim already within its lease margin is given
 * back, to be released.
 */
function offer(t: Turn, deliveries: readonly Delivery[]): void {
  const { leaseMarginMs, queueCapacity, maxRecipientsPerTransaction } = t.s.config.policy;
  let room = queueCapacity - t.s.jobs.size;
  const taken: Delivery[] = [];
  const rest: Delivery[] = [];
  const messages = new Map<number, Delivery[]>();
  for (const d of deliveries) {
    if (!(d.leaseExpiresAt - leaseMarginMs > t.at.now)) {
      rest.push(d);
      continue;
    }
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
  update(t, { jobs: addJobs(t.s.jobs, taken, maxRecipientsPerTransaction) });
  if (rest.length > 0) t.effects.push({ kind: "give_back", deliveries: rest });
  // Work of a sender that waits is not asked about until it may go: trim it here.
  for (const [sender, wait] of Object.entries(t.s.senderWaits)) {
    if (wait.until > t.at.now) handBackSurplus(t, sender, wait);
  }
  kick(t);
}

function drain(t: Turn, domain: string | undefined): void {
  const { jobs, drained } = drainJobs(
    t.s.jobs,
    domain === undefined ? undefined : (d) => d.domain === domain,
  );
  update(t, { jobs });
  if (drained.length > 0) t.effects.push({ kind: "give_back", deliveries: drained });
}

/** Wakes the run loop, then every waiting connection (those already due keep their turn). */
function kick(t: Turn): void {
  const agenda = [...t.s.agenda];
  const waiting = t.s.conns.filter((c) => c.phase.kind === "waiting").map((c) => c.id);
  for (const owner of ["loop" as const, ...waiting]) {
    if (!agenda.includes(owner)) agenda.push(owner);
  }
  update(t, { agenda });
}

/** Lets `owner` decide first, ahead of the agenda: it is the one the event concerns. */
function first(t: Turn, owner: Owner): void {
  update(t, { agenda: [owner, ...t.s.agenda.filter((o) => o !== owner)] });
}

function advance(t: Turn): void {
  while (t.s.asking === undefined && t.s.agenda.length > 0) {
    const [owner, ...rest] = t.s.agenda;
    update(t, { agenda: rest });
    if (owner === "loop") runLoop(t);
    else if (owner !== undefined) seek(t, owner);
  }
}

function ask(t: Turn, owner: Owner, question: Question): void {
  t.effects.push(question);
  update(t, { asking: owner });
}

/** Closes the question of `owner`; false when it had none open (a stray answer). */
function answered(t: Turn, owner: Owner): boolean {
  if (t.s.asking !== owner) return false;
  update(t, { asking: undefined });
  return true;
}

function finishIfDone(t: Turn): void {
  const s = t.s;
  if (!s.started || s.finished || !(s.stopped || s.failed)) return;
  if (s.conns.length > 0 || s.asking !== undefined) return;
  setLoopTimer(t, undefined);
  update(t, { finished: true });
  t.effects.push({ kind: "finish" });
}

function timerFired(t: Turn, owner: Owner): void {
  if (owner === "loop") {
    if (t.s.loopTimer === undefined) return;
    update(t, { loopTimer: undefined });
    return first(t, "loop");
  }
  const c = connOf(t.s, owner);
  if (c?.phase.kind !== "waiting") return;
  // The timer is spent: no clear_timer for it.
  putConn(t, { ...c, phase: { kind: "seeking", idleEnd: c.phase.idleEnd } });
  first(t, c.id);
}

// ---- The run loop ----

function running(s: DomainActorState): boolean {
  return s.started && !s.stopped && !s.failed;
}

/** More queued than the idle connections can take, nothing blocks, and the limit has room. */
function wantsConnection(t: Turn): boolean {
  const { now, limit, unreachableUntil } = t.at;
  const idle = t.s.conns.filter((c) => c.phase.kind === "waiting" && c.phase.for === "work");
  return readySize(t.s, now) > idle.length * t.s.config.policy.maxRecipientsPerTransaction &&
    blockedUntil(t.s, now, unreachableUntil) <= now &&
    t.s.conns.length < limit;
}

function runLoop(t: Turn): void {
  if (!running(t.s)) return setLoopTimer(t, undefined);
  while (wantsConnection(t)) {
    if (t.s.config.connectionBudget) return ask(t, "loop", { kind: "take_connection" });
    openConnection(t);
  }
  // Work held back by its senders' limits: look again when the first of them may go.
  loopWaits(t, senderWaitEnd(t.s, t.at.now));
}

function connectionGranted(t: Turn): void {
  if (!answered(t, "loop")) return;
  if (running(t.s) && wantsConnection(t)) openConnection(t);
  first(t, "loop");
}

function connectionRefused(t: Turn, retryAt: number): void {
  if (!answered(t, "loop")) return;
  if (running(t.s)) loopWaits(t, retryAt);
  else setLoopTimer(t, undefined);
}

/** The run loop sleeps until a kick, `wakeAt`, or the end of a block while work is queued. */
function loopWaits(t: Turn, wakeAt: number): void {
  const { now, unreachableUntil } = t.at;
  const blocked = blockedUntil(t.s, now, unreachableUntil);
  const at = blocked > now && t.s.jobs.size > 0 ? Math.min(wakeAt, blocked) : wakeAt;
  setLoopTimer(t, at === Infinity ? undefined : at);
}

function setLoopTimer(t: Turn, at: number | undefined): void {
  if (t.s.loopTimer === at) return;
  t.effects.push(timerEffect("loop", at));
  update(t, { loopTimer: at });
}

function timerEffect(owner: Owner, at: number | undefined): Effect {
  return at === undefined ? { kind: "clear_timer", owner } : { kind: "set_timer", owner, at };
}

function openConnection(t: Turn): void {
  const id = t.s.nextConn;
  const conn: Conn = {
    id,
    session: undefined,
    counted: false,
    jobs: 0,
    phase: { kind: "connecting" },
  };
  update(t, { nextConn: id + 1, conns: [...t.s.conns, conn] });
  t.effects.push({ kind: "connect", conn: id });
}

// ---- A connection ----

function connOf(s: DomainActorState, id: ConnId): Conn | undefined {
  return s.conns.find((c) => c.id === id);
}

type InPhase<K extends ConnPhase["kind"]> = Conn & {
  readonly phase: Extract<ConnPhase, { kind: K }>;
};

function isIn<K extends ConnPhase["kind"]>(c: Conn, kind: K): c is InPhase<K> {
  return c.phase.kind === kind;
}

/** The connection, if it is in phase `kind` (a stray event for another phase is ignored). */
function connIn<K extends ConnPhase["kind"]>(t: Turn, id: ConnId, kind: K): InPhase<K> | undefined {
  const c = connOf(t.s, id);
  return c && isIn(c, kind) ? c : undefined;
}

function putConn(t: Turn, conn: Conn): void {
  update(t, { conns: t.s.conns.map((c) => c.id === conn.id ? conn : c) });
}

/** Moves a connection to `phase`, arming or clearing its timer as its wait begins or ends. */
function setPhase(t: Turn, conn: Conn, phase: ConnPhase): void {
  const old = connOf(t.s, conn.id)?.phase;
  const was = old?.kind === "waiting" ? old.until : undefined;
  const will = phase.kind === "waiting" ? phase.until : undefined;
  if (was !== will) t.effects.push(timerEffect(conn.id, will));
  putConn(t, { ...conn, phase });
}

function close(t: Turn, c: Conn): void {
  setPhase(t, c, { kind: "closing" });
  t.effects.push({ kind: "close", conn: c.id });
}

/** The connection's transaction no longer counts against its sender's cap. */
function freeSender(t: Turn, c: Conn): Conn {
  if (c.carrying === undefined) return c;
  t.effects.push({ kind: "sender_done", sender: c.carrying });
  return { ...c, carrying: undefined };
}

/** A connection is gone: the run loop and the waiting connections reconsider. */
function endConn(t: Turn, c: Conn): void {
  freeSender(t, connOf(t.s, c.id) ?? c);
  if (c.phase.kind === "waiting") t.effects.push({ kind: "clear_timer", owner: c.id });
  update(t, {
    conns: t.s.conns.filter((x) => x.id !== c.id),
    agenda: t.s.agenda.filter((o) => o !== c.id),
  });
  kick(t);
}

function connected(t: Turn, e: Extract<ActorInput, { kind: "connected" }>): void {
  const c = connIn(t, e.conn, "connecting");
  if (!c) return;
  const session = { mxHost: e.mxHost, tls: e.tls, tlsDetail: e.tlsDetail };
  // Cut by a drain's deadline: not the destination's doing; the queued work goes back.
  if (t.s.killed) return close(t, { ...c, session });
  update(t, { connectFailures: 0 });
  setPhase(t, { ...c, session }, { kind: "greeted", usable: e.usable });
  ask(t, c.id, { kind: "report", signal: "connected", conn: c.id });
}

function connectFailed(t: Turn, e: Extract<ActorInput, { kind: "connect_failed" }>): void {
  const c = connIn(t, e.conn, "connecting");
  if (!c) return;
  if (t.s.killed) return endConn(t, c); // cut by a drain's deadline, as above
  update(t, { lastReply: e.failure.reply, connectFailures: t.s.connectFailures + 1 });
  // The destination cannot receive mail at all (null MX, no such domain): bounce all queued.
  if (e.failure.kind === "permanent") return failAll(t, c, e.failure, e.mxHost, e.tlsDetail);
  setPhase(t, c, {
    kind: "refused",
    failure: e.failure,
    mxHost: e.mxHost,
    tlsDetail: e.tlsDetail,
  });
  ask(t, c.id, { kind: "report", signal: "connect_failed", conn: c.id });
}

function reported(t: Turn, id: ConnId): void {
  const c = connOf(t.s, id);
  if (!c || !answered(t, id)) return;
  if (c.phase.kind === "greeted") {
    t.effects.push({ kind: "count_connection", delta: 1 }, { kind: "watch", conn: id });
    return goOn(t, { ...c, counted: true }, c.phase.usable);
  }
  if (c.phase.kind !== "refused") return;
  const until = t.at.unreachableUntil;
  if (until === undefined) {
    update(t, { reconnectAt: t.at.now + reconnectBackoff(t.s.connectFailures) });
    return endConn(t, c);
  }
  const { failure, mxHost, tlsDetail } = c.phase;
  t.effects.push({
    kind: "log",
    event: { event: "domain.unreachable", domain: t.s.config.domain, until, reply: failure.reply },
  });
  failAll(t, c, failure, mxHost, tlsDetail);
}

/**
 * Every queued delivery gets the connection-level failure as its outcome, with the TLS decision
 * that failed, if TLS is why.
 */
function failAll(
  t: Turn,
  c: Conn,
  failure: FailureResult,
  mxHost: string | undefined,
  tlsDetail: TlsDetail | undefined,
): void {
  const { jobs, drained } = drainJobs(t.s.jobs);
  update(t, { jobs });
  const { now } = t.at;
  const { planRetry } = t.s.config;
  const outcomes = drained.map((d) =>
    classifyOutcome(d, failure, { now, mxHost, tlsDetail, planRetry })
  );
  record(t, c, outcomes, "end");
}

/** After connecting or a transaction: the next job, unless this connection is done. */
function goOn(t: Turn, c: Conn, usable: boolean): void {
  const { messagesPerConnection, idleTimeoutMs } = t.s.config.policy;
  if (c.jobs >= messagesPerConnection || !usable || t.s.stopped) return close(t, c);
  setPhase(t, c, { kind: "seeking", idleEnd: t.at.now + idleTimeoutMs });
  first(t, c.id);
}

/** The next job the budget allows, waiting while the connection may idle; or close. */
function seek(t: Turn, id: ConnId): void {
  const c = connOf(t.s, id);
  if (c?.phase.kind !== "seeking" && c?.phase.kind !== "waiting") return;
  const { idleEnd } = c.phase;
  const { now, unreachableUntil } = t.at;
  if (t.s.stopped || closedUntil(t.s, now, unreachableUntil) > now) return close(t, c);
  const job = peekJob(t.s.jobs, senderReady(t.s, now));
  if (job) {
    // Paused by the receiver: the session waits the pause out, as for the budget, rather than
    // closing and reconnecting (new connections are what a throttling receiver counts too).
    const paused = t.s.pausedUntil;
    if (paused > now) {
      if (paused > idleEnd) return close(t, c);
      return setPhase(t, c, { kind: "waiting", idleEnd, for: "pause", until: paused });
    }
    setPhase(t, c, { kind: "asking", idleEnd });
    const sender = limitedSender(job, now);
    const max = job.deliveries.length;
    return ask(t, id, { kind: "take_budget", conn: id, max, ...(sender ? { sender } : {}) });
  }
  // Idle while another destination waits for this host's slot: give the slot up.
  if (now >= idleEnd || t.at.wanted.includes(id)) return close(t, c);
  // Everything queued waits for its senders' limits: wait with it, as for the rate budget.
  const senders = senderWaitEnd(t.s, now);
  if (senders < idleEnd) {
    return setPhase(t, c, { kind: "waiting", idleEnd, for: "budget", until: senders });
  }
  setPhase(t, c, { kind: "waiting", idleEnd, for: "work", until: idleEnd });
}

function budgetGranted(t: Turn, id: ConnId, n: number): void {
  const c = connIn(t, id, "asking");
  if (!c || !answered(t, id)) return;
  const ready = senderReady(t.s, t.at.now);
  // The sender asked was the whole job's (the head taken may be all expired where the job is not).
  const whole = peekJob(t.s.jobs, ready);
  const carrying = whole && limitedSender(whole, t.at.now);
  const { jobs, job } = takeJob(t.s.jobs, n, ready);
  if (!job) {
    // The queue emptied between question and answer: look again.
    setPhase(t, c, { kind: "seeking", idleEnd: c.phase.idleEnd });
    return first(t, id);
  }
  update(t, { jobs });
  begin(t, { ...c, carrying }, job);
}

/**
 * The job's sender may not send now. Its jobs wait here (not an attempt: nothing is recorded),
 * and the connection looks at once for a job of another sender. Beyond what the connections
 * could start soon, that sender's queued deliveries go back to the queue, due once the ones kept
 * could have gone, so a noisy sender's backlog does not fill the queue ahead of other mail.
 */
function senderRefused(t: Turn, e: Extract<ActorInput, { kind: "sender_refused" }>): void {
  const c = connIn(t, e.conn, "asking");
  if (!c || !answered(t, e.conn)) return;
  const wait = { until: e.retryAt, spacingMs: e.spacingMs };
  update(t, { senderWaits: { ...t.s.senderWaits, [e.sender]: wait } });
  handBackSurplus(t, e.sender, wait);
  setPhase(t, c, { kind: "seeking", idleEnd: c.phase.idleEnd });
  first(t, e.conn);
}

function budgetRefused(t: Turn, id: ConnId, retryAt: number): void {
  const c = connIn(t, id, "asking");
  if (!c || !answered(t, id)) return;
  const { idleEnd } = c.phase;
  if (retryAt > idleEnd) return close(t, c);
  setPhase(t, c, { kind: "waiting", idleEnd, for: "budget", until: retryAt });
}

// ---- A transaction ----

function begin(t: Turn, c: Conn, job: Job): void {
  const start = t.at.now;
  const margin = t.s.config.policy.leaseMarginMs;
  const expired: OutcomeRecord[] = [];
  // A claim whose lease is about to end is not sent (it could still be in flight when the
  // reaper hands it to another instance: sent twice) but released at once, under its token,
  // so the next claim sends it instead of it waiting for the reaper.
  const fresh: Delivery[] = [];
  const stale: Delivery[] = [];
  for (const d of job.deliveries) {
    if (d.expiresAt <= start) expired.push(expiredOutcome(d));
    else if (d.leaseExpiresAt - margin > start) fresh.push(d);
    else stale.push(d);
  }
  const tx: Transaction = { outboxId: job.outboxId, start, recipients: fresh, outcomes: expired };
  const used = { ...c, jobs: c.jobs + 1 };
  if (stale.length === 0) return send(t, used, tx);
  setPhase(t, used, { kind: "releasing", tx });
  t.effects.push({ kind: "release", conn: c.id, deliveries: stale });
}

function expiredOutcome(d: Delivery): OutcomeRecord {
  return { delivery: d, status: "expired", attempted: false, code: null, reply: null };
}

function send(t: Turn, c: Conn, tx: Transaction): void {
  if (tx.recipients.length === 0) return record(t, c, tx.outcomes, "next");
  setPhase(t, c, { kind: "sending", tx });
  t.effects.push({
    kind: "send",
    conn: c.id,
    outboxId: tx.outboxId,
    recipients: tx.recipients,
  });
}

function released(t: Turn, id: ConnId): void {
  const c = connOf(t.s, id);
  if (c?.phase.kind === "releasing") send(t, c, c.phase.tx);
  else if (c?.phase.kind === "cutting") conclude(t, c, c.phase.tx, c.phase.results);
}

function sent(t: Turn, id: ConnId, results: readonly RecipientResult[]): void {
  const c = connIn(t, id, "sending");
  if (!c) return;
  const { tx } = c.phase;
  update(t, { unsentPauses: 0 });
  if (!t.s.killed) return conclude(t, c, tx, results);
  // A drain's deadline cut the transaction: what got no final answer goes back to the queue,
  // due now, without counting as an attempt or waiting out a retry delay.
  const cut = tx.recipients.filter((_, i) => results[i]?.kind === "transient");
  const gone = new Set(cut);
  const kept = { ...tx, recipients: tx.recipients.filter((d) => !gone.has(d)) };
  const final = results.filter((r) => r.kind !== "transient");
  if (cut.length === 0) return conclude(t, c, kept, final);
  setPhase(t, c, { kind: "cutting", tx: kept, results: final });
  t.effects.push({ kind: "release", conn: id, deliveries: cut });
}

function sendThrew(t: Turn, id: ConnId, message: string, nothingSent: boolean): void {
  const c = connIn(t, id, "sending");
  if (!c) return;
  const { tx } = c.phase;
  if (!nothingSent) {
    // The port promises values; any other throw is a bug or broken infrastructure. Treat it
    // as a connection failure so the recipients are retried, not lost.
    const reply = `delivery failed: ${message}`;
    const failure: RecipientResult = { kind: "transient", scope: "connection", code: null, reply };
    return sent(t, id, tx.recipients.map(() => failure));
  }
  // Not an attempt: the recipients wait here (under their leases) and this actor pauses,
  // longer each time, until the message can be read again.
  const pauses = t.s.unsentPauses + 1;
  update(t, {
    jobs: addJobs(t.s.jobs, tx.recipients, t.s.config.policy.maxRecipientsPerTransaction),
    unsentPauses: pauses,
    reconnectAt: t.at.now + reconnectBackoff(pauses),
    lastReply: message,
  });
  record(t, c, tx.outcomes, "next");
}

/**
 * Of a waiting sender's queued deliveries, those beyond what the connections could start soon go
 * back to the queue, in chunks of that size due one after another at the sender's spacing (when
 * this actor alone could have sent the ones before them), so they neither fill the queue ahead of
 * other senders' mail nor come back all at once to be claimed and handed back again.
 */
function handBackSurplus(t: Turn, sender: string, wait: SenderWait): void {
  const keep = Math.max(1, t.at.limit * QUEUED_PER_CONNECTION);
  const { leaseMarginMs } = t.s.config.policy;
  // Kept: the first `keep` whose claims outlive the wait; a claim that would reach its lease
  // margin first goes back too (its lease would lapse while it waits here).
  const surplus: number[] = [];
  let kept = 0;
  for (const lane of t.s.jobs.lanes) {
    for (const job of lane) {
      if (limitedSender(job, t.at.now) !== sender) continue;
      for (const d of job.deliveries) {
        if (kept < keep && d.leaseExpiresAt - leaseMarginMs > wait.until) kept++;
        else surplus.push(d.id);
      }
    }
  }
  if (surplus.length === 0) return;
  const chunkOf = new Map(surplus.map((id, i) => [id, Math.floor(i / keep)]));
  const { jobs, drained } = drainJobs(t.s.jobs, (d) => chunkOf.has(d.id));
  update(t, { jobs });
  const start = Math.max(wait.until, t.at.now);
  const chunks = new Map<number, Delivery[]>();
  for (const d of drained) {
    const k = chunkOf.get(d.id)!;
    const chunk = chunks.get(k);
    if (chunk) chunk.push(d);
    else chunks.set(k, [d]);
  }
  for (const [k, deliveries] of chunks) {
    const at = Math.ceil(start + (k + 1) * keep * wait.spacingMs);
    t.effects.push({ kind: "hand_back", deliveries, at });
  }
}

/** Results become outcomes; the concurrency port hears of a throttling or a success. */
function conclude(
  t: Turn,
  c: Conn,
  tx: Transaction,
  results: readonly RecipientResult[],
): void {
  const end = t.at.now;
  const durationMs = end - tx.start;
  t.effects.push({ kind: "observe_attempt", seconds: durationMs / 1000 });
  const context = {
    now: end,
    mxHost: c.session?.mxHost,
    tls: c.session?.tls,
    tlsDetail: c.session?.tlsDetail,
    durationMs,
    planRetry: t.s.config.planRetry,
  };
  let throttled = false;
  let delivered = false;
  let slowDown: { reply: string; hintMs: number | undefined } | undefined;
  let lastReply = t.s.lastReply;
  const outcomes = [...tx.outcomes];
  for (const [i, d] of tx.recipients.entries()) {
    const r = results[i] ?? missingResult();
    lastReply = r.reply;
    if (r.kind === "delivered") delivered = true;
    else if (r.kind === "transient" && r.slowDown) {
      const hint = Math.max(slowDown?.hintMs ?? 0, r.retryAfterMs ?? 0);
      slowDown = { reply: r.reply, hintMs: hint > 0 ? hint : undefined };
    } else if (r.scope === "connection" || r.code === 421) throttled = true;
    outcomes.push(classifyOutcome(d, r, context));
  }
  update(t, { lastReply });
  if (slowDown) slowDownFor(t, slowDown.reply, slowDown.hintMs);
  else if (throttled) t.effects.push({ kind: "report", signal: "throttled" });
  else if (delivered) {
    update(t, { slowDowns: 0 });
    t.effects.push({ kind: "report", signal: "success" });
  }
  record(t, c, outcomes, "next");
}

/**
 * The receiver asked to slow down: both limits are cut (the concurrency port, the message rate)
 * and no transaction starts before the hinted time, or a pause that doubles while the receiver
 * keeps refusing. A pause already longer stays.
 */
function slowDownFor(t: Turn, reply: string, hintMs: number | undefined): void {
  const { now } = t.at;
  const slowDowns = t.s.slowDowns + 1;
  const pauseMs = hintMs !== undefined
    ? Math.min(hintMs, MAX_HINTED_PAUSE_MS)
    : reconnectBackoff(slowDowns, SLOW_DOWN_PAUSE);
  const until = Math.max(t.s.pausedUntil, now + pauseMs);
  update(t, { slowDowns, pausedUntil: until, lastThrottle: { reply, at: now } });
  t.effects.push(
    { kind: "report", signal: "slow_down" },
    { kind: "log", event: { event: "domain.slowed", domain: t.s.config.domain, until, reply } },
  );
}

function missingResult(): RecipientResult {
  return {
    kind: "transient",
    scope: "message",
    code: null,
    reply: "no result reported for recipient",
  };
}

function record(
  t: Turn,
  c: Conn,
  outcomes: readonly OutcomeRecord[],
  then: "next" | "end",
): void {
  setPhase(t, freeSender(t, c), { kind: "recording", then });
  t.effects.push({ kind: "record", conn: c.id, outcomes });
}

function recorded(t: Turn, id: ConnId, usable: boolean): void {
  const c = connIn(t, id, "recording");
  if (!c) return;
  if (c.phase.then === "end") endConn(t, c);
  else goOn(t, c, usable);
}

function closed(t: Turn, id: ConnId): void {
  const c = connOf(t.s, id);
  if (!c) return;
  if (c.counted) t.effects.push({ kind: "count_connection", delta: -1 });
  endConn(t, c);
}

/**
 * Something threw. Like a worker that throws, it ends the actor's run with the error (so the
 * supervisor restarts it): no new connection opens, and the one it happened on closes.
 */
function crashed(t: Turn, owner: Owner | undefined): void {
  update(t, { failed: true });
  if (owner !== undefined) answered(t, owner);
  const c = owner === undefined || owner === "loop" ? undefined : connOf(t.s, owner);
  if (!c) return kick(t);
  // A failing close is not retried: the session is given up.
  if (c.session && c.phase.kind !== "closing") close(t, c);
  else endConn(t, c);
}
