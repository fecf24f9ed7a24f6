/**
 * The domain actor's decisions, step by step: each row plays events into the pure transition
 * from a fresh state, then checks the effects of one more event. No clock, no sockets, no
 * promises: the time is whatever the event says (`at.now`).
 */
import assert from "node:assert/strict";
import {
  type ActorConfig,
  type ActorEvent,
  type ActorInput,
  type ActorPolicy,
  blockedUntil,
  demandOf,
  type DomainActorState,
  type Effect,
  inFlight,
  initialState,
  isIdle,
  type Readings,
  transition,
} from "../../actors/domain_actor_transitions.ts";
import type { PlanRetry } from "../../actors/classify_outcome.ts";
import type { Delivery, OutcomeRecord, RecipientResult } from "../../actors/ports.ts";

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
const MX = "mx.dest.test";
const RETRY_MS = 300_000;

const POLICY: ActorPolicy = {
  messagesPerConnection: 100,
  idleTimeoutMs: 5_000,
  maxRecipientsPerTransaction: 50,
  queueCapacity: 100,
  leaseMarginMs: 5_000,
};

/** 5 minutes doubling per attempt, a server's hint as a floor; expire when past expiresAt. */
const planRetry: PlanRetry = ({ attempts, now, expiresAt, hintMs }) => {
  const at = now + Math.max(hintMs ?? 0, RETRY_MS * 2 ** (attempts - 1));
  return at >= expiresAt ? { kind: "expire" } : { kind: "retry", at };
};

function config(policy: Partial<ActorPolicy> = {}, connectionBudget = false): ActorConfig {
  return { domain: "dest.test", policy: { ...POLICY, ...policy }, planRetry, connectionBudget };
}

function delivery(id: number, o: Partial<Delivery> = {}): Delivery {
  return {
    id,
    outboxId: 100 + id,
    recipient: `r${id}@dest.test`,
    domain: "dest.test",
    priority: 1,
    attempts: 0,
    expiresAt: T0 + DAY,
    smtputf8: false,
    leaseToken: 1,
    leaseExpiresAt: T0 + 120_000,
    ...o,
  };
}

// ---- Events, as the shell would make them ----

/** Readings by default: T0, limit 2, reachable, no host slot wanted. */
function on(input: ActorInput, readings: Partial<Readings> = {}): ActorEvent {
  return {
    ...input,
    at: { now: T0, limit: 2, unreachableUntil: undefined, wanted: [], ...readings },
  };
}

type R = Partial<Readings>;
const L1: R = { limit: 1 };
const start = (r?: R) => on({ kind: "start" }, r);
const stop = (r?: R) => on({ kind: "stop" }, r);
const kill = (r?: R) => on({ kind: "kill" }, r);
const offer = (deliveries: Delivery[], r?: R) => on({ kind: "offer", deliveries }, r);
const timer = (owner: "loop" | number, r?: R) => on({ kind: "timer", owner }, r);
const connected = (conn: number, r?: R, usable = true) =>
  on({ kind: "connected", conn, mxHost: MX, tls: true, usable }, r);
const reported = (conn: number, r?: R) => on({ kind: "reported", conn }, r);
const granted = (conn: number, n: number, r?: R) => on({ kind: "budget_granted", conn, n }, r);
const refused = (conn: number, retryAt: number, r?: R) =>
  on({ kind: "budget_refused", conn, retryAt }, r);
const sent = (conn: number, results: RecipientResult[], r?: R) =>
  on({ kind: "sent", conn, results }, r);
const released = (conn: number, r?: R) => on({ kind: "released", conn }, r);
const recorded = (conn: number, r?: R, usable = true) => on({ kind: "recorded", conn, usable }, r);
const closed = (conn: number, r?: R) => on({ kind: "closed", conn }, r);

const ok = (): RecipientResult => ({ kind: "delivered", code: 250, reply: "250 2.0.0 ok" });
const tempfail = (o: Partial<Extract<RecipientResult, { kind: "transient" }>> = {}) =>
  ({
    kind: "transient",
    scope: "recipient",
    code: 450,
    reply: "450 4.2.1 try later",
    ...o,
  }) as const;
const refusedConnection = {
  kind: "transient",
  scope: "connection",
  code: null,
  reply: "connect to mx.dest.test: Connection refused",
} as const;

// ---- Given states ----

/** One connection (limit 1) with the budget asked for `ds`'s job. */
function asking(ds: Delivery[]): ActorEvent[] {
  return [start(L1), offer(ds, L1), connected(1, L1), reported(1, L1)];
}

/** One connection (limit 1) sending `ds` (one job), started at T0. */
function sending(ds: Delivery[]): ActorEvent[] {
  return [...asking(ds), granted(1, ds.length, L1)];
}

/** One connection (limit 1) that delivered `d` and idles until T0 + 5 s. */
function idle(d = delivery(1)): ActorEvent[] {
  return [...sending([d]), sent(1, [ok()], L1), recorded(1, L1)];
}

// ---- The table runner ----

interface Row {
  readonly name: string;
  readonly config?: ActorConfig;
  readonly given: readonly ActorEvent[];
  readonly when: ActorEvent;
  readonly then: readonly Effect[];
  readonly state?: (s: DomainActorState) => void;
}

const QUESTIONS = new Set(["take_connection", "take_budget"]);
const isQuestion = (e: Effect) =>
  QUESTIONS.has(e.kind) || (e.kind === "report" && e.conn !== undefined);

/** Plays events; every step asks at most one question, as its last effect. */
function play(
  state: DomainActorState,
  events: readonly ActorEvent[],
): { state: DomainActorState; effects: readonly Effect[] } {
  let effects: readonly Effect[] = [];
  for (const event of events) {
    ({ state, effects } = transition(state, event));
    const asked = effects.filter(isQuestion);
    assert.ok(asked.length <= 1, `${event.kind}: one question at most`);
    if (asked.length === 1) assert.equal(effects.at(-1), asked[0], `${event.kind}: asked last`);
  }
  return { state, effects };
}

/** Frozen all the way down: a transition that wrote to its input would throw. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function table(rows: readonly Row[]): void {
  for (const row of rows) {
    const before = deepFreeze(play(initialState(row.config ?? config()), row.given).state);
    const { state, effects } = play(before, [deepFreeze(row.when)]);
    assert.deepEqual(effects, row.then, row.name);
    row.state?.(state);
  }
}

function outcome(
  d: Delivery,
  status: OutcomeRecord["status"],
  o: Partial<OutcomeRecord> & Pick<OutcomeRecord, "code" | "reply">,
): OutcomeRecord {
  return { delivery: d, status, attempted: true, mxHost: MX, tls: true, durationMs: 0, ...o };
}

// ---- The rows ----

Deno.test("transition(): work arrives", () => {
  const [a, b] = [delivery(1), delivery(2)];
  const stale = delivery(3, { leaseExpiresAt: T0 + 4_000 });
  const big = [delivery(4, { outboxId: 9 }), delivery(5, { outboxId: 9 })];
  table([
    {
      name: "before run() it is queued and nothing opens",
      given: [],
      when: offer([a]),
      then: [],
      state: (s) => assert.equal(s.jobs.size, 1),
    },
    {
      name: "while running, connections open up to the limit (one connecting takes none yet)",
      given: [start()],
      when: offer([a]),
      then: [{ kind: "connect", conn: 1 }, { kind: "connect", conn: 2 }],
    },
    {
      name: "work offered before run() opens a connection when run() begins",
      given: [offer([a], L1)],
      when: start(L1),
      then: [{ kind: "connect", conn: 1 }],
    },
    {
      name: "a claim within its lease margin, and a message beyond capacity, are given back",
      config: config({ queueCapacity: 2 }),
      given: [],
      when: offer([stale, ...big, b]),
      then: [{ kind: "give_back", deliveries: [stale, b] }],
      state: (s) => assert.equal(s.jobs.size, 2, "the message of two is taken whole"),
    },
    {
      name: "a connection's first job is asked of the rate budget",
      given: [start(L1), offer([a, b], L1), connected(1, L1)],
      when: reported(1, L1),
      then: [
        { kind: "count_connection", delta: 1 },
        { kind: "watch", conn: 1 },
        { kind: "take_budget", conn: 1, max: 1 },
      ],
    },
  ]);
});

Deno.test("transition(): connection slots, free or busy", () => {
  const [a, b, c] = [delivery(1), delivery(2), delivery(3)];
  table([
    {
      name: "no free slot: nothing opens",
      given: [start(L1), offer([a], L1)],
      when: offer([b], L1),
      then: [],
    },
    {
      name: "an idle connection takes new work; none opens beside it",
      given: idle(a),
      when: offer([b]),
      then: [{ kind: "clear_timer", owner: 1 }, { kind: "take_budget", conn: 1, max: 1 }],
    },
    {
      name: "more work than the idle connections take: one more opens, the idle one takes too",
      config: config({ maxRecipientsPerTransaction: 1 }),
      given: idle(a),
      when: offer([b, c]),
      then: [
        { kind: "connect", conn: 2 },
        { kind: "clear_timer", owner: 1 },
        { kind: "take_budget", conn: 1, max: 1 },
      ],
    },
    {
      name: "a connection-rate budget is asked before each connection",
      config: config({}, true),
      given: [start()],
      when: offer([a]),
      then: [{ kind: "take_connection" }],
    },
    {
      name: "granted: it opens, and asks again while more are wanted",
      config: config({}, true),
      given: [start(), offer([a])],
      when: on({ kind: "connection_granted" }),
      then: [{ kind: "connect", conn: 1 }, { kind: "take_connection" }],
    },
    {
      name: "refused: the run loop sleeps until the budget's retryAt",
      config: config({}, true),
      given: [start(), offer([a]), on({ kind: "connection_granted" })],
      when: on({ kind: "connection_refused", retryAt: T0 + 700 }),
      then: [{ kind: "set_timer", owner: "loop", at: T0 + 700 }],
    },
    {
      name: "the run loop's timer: it asks again",
      config: config({}, true),
      given: [
        start(),
        offer([a]),
        on({ kind: "connection_granted" }),
        on({ kind: "connection_refused", retryAt: T0 + 700 }),
      ],
      when: timer("loop", { now: T0 + 700 }),
      then: [{ kind: "take_connection" }],
    },
  ]);
});

Deno.test("transition(): the rate budget exhausted waits until its retryAt", () => {
  const [a, b, c] = [1, 2, 3].map((id) => delivery(id, { outboxId: 7 }));
  table([
    {
      name: "refused: the connection sleeps until retryAt",
      given: asking([a!]),
      when: refused(1, T0 + 1_000, L1),
      then: [{ kind: "set_timer", owner: 1, at: T0 + 1_000 }],
      state: (s) => assert.equal(s.jobs.size, 1, "the job stays queued"),
    },
    {
      name: "the timer: it asks again (the spent timer needs no clearing)",
      given: [...asking([a!]), refused(1, T0 + 1_000, L1)],
      when: timer(1, { ...L1, now: T0 + 1_000 }),
      then: [{ kind: "take_budget", conn: 1, max: 1 }],
    },
    {
      name: "new work wakes it early: it asks again",
      given: [...asking([a!]), refused(1, T0 + 1_000, L1)],
      when: offer([delivery(4)], L1),
      then: [{ kind: "clear_timer", owner: 1 }, { kind: "take_budget", conn: 1, max: 1 }],
    },
    {
      name: "a retryAt past the idle end closes the connection instead",
      given: asking([a!]),
      when: refused(1, T0 + 5_001, L1),
      then: [{ kind: "close", conn: 1 }],
    },
    {
      name: "fewer cells than recipients: the head of the job goes, the rest stays first",
      given: asking([a!, b!, c!]),
      when: granted(1, 2, L1),
      then: [{ kind: "send", conn: 1, outboxId: 7, recipients: [a!, b!] }],
      state: (s) => {
        assert.equal(s.jobs.size, 1);
        assert.equal(inFlight(s), 2);
      },
    },
  ]);
});

Deno.test("transition(): a failed connect pauses reconnecting, longer each time", () => {
  const [a, b] = [delivery(1), delivery(2)];
  const failed = (conn: number, r?: R) =>
    on({ kind: "connect_failed", conn, failure: refusedConnection, mxHost: MX }, r);
  const firstFailure = [start(L1), offer([a, b], L1), failed(1, L1)];
  const at500 = { ...L1, now: T0 + 500 };
  table([
    {
      name: "the concurrency port hears of it first",
      given: [start(L1), offer([a, b], L1)],
      when: failed(1, L1),
      then: [{ kind: "report", signal: "connect_failed", conn: 1 }],
      state: (s) => assert.equal(s.lastReply, refusedConnection.reply),
    },
    {
      name: "still reachable: no connection for 0.5 s",
      given: firstFailure,
      when: reported(1, L1),
      then: [{ kind: "set_timer", owner: "loop", at: T0 + 500 }],
      state: (s) => assert.equal(blockedUntil(s, T0, undefined), T0 + 500),
    },
    {
      name: "the pause over: a new connection",
      given: [...firstFailure, reported(1, L1)],
      when: timer("loop", at500),
      then: [{ kind: "connect", conn: 2 }],
    },
    {
      name: "a second failure in a row: 1 s",
      given: [...firstFailure, reported(1, L1), timer("loop", at500), failed(2, at500)],
      when: reported(2, at500),
      then: [{ kind: "set_timer", owner: "loop", at: T0 + 1_500 }],
    },
    {
      name: "a connection that connects resets the count",
      given: [...firstFailure, reported(1, L1), timer("loop", at500)],
      when: connected(2, at500),
      then: [{ kind: "report", signal: "connected", conn: 2 }],
      state: (s) => assert.equal(s.connectFailures, 0),
    },
    {
      name: "now unreachable: logged, and the queue deferred with the failure",
      given: firstFailure,
      when: reported(1, { ...L1, unreachableUntil: T0 + 60_000 }),
      then: [
        {
          kind: "log",
          event: {
            event: "domain.unreachable",
            domain: "dest.test",
            until: T0 + 60_000,
            reply: refusedConnection.reply,
          },
        },
        {
          kind: "record",
          conn: 1,
          outcomes: [a, b].map((d) => ({
            delivery: d,
            status: "deferred" as const,
            attempted: true,
            code: null,
            reply: refusedConnection.reply,
            mxHost: MX,
            nextAttemptAt: T0 + RETRY_MS,
          })),
        },
      ],
      state: (s) => assert.equal(s.jobs.size, 0),
    },
    {
      name: "a destination that cannot receive mail: everything queued bounces",
      given: [start(L1), offer([a, b], L1)],
      when: on({
        kind: "connect_failed",
        conn: 1,
        failure: { kind: "permanent", scope: "connection", code: null, reply: "null MX" },
      }, L1),
      then: [{
        kind: "record",
        conn: 1,
        outcomes: [a, b].map((d) => ({
          delivery: d,
          status: "bounced" as const,
          attempted: true,
          code: null,
          reply: "null MX",
          suppress: false,
        })),
      }],
    },
  ]);
});

Deno.test("transition(): a connect that failed over TLS records the TLS decision with the deferral", () => {
  // RFC 7672 §2.2: DANE refused the host. The events of the deferral say under which policy,
  // as a session's events would.
  const [a, b] = [delivery(1), delivery(2)];
  const tlsDetail = {
    policy: "dane",
    reason: "DNSSEC-secure TLSA records at _25._tcp.mx.dest.test",
    tls: false,
    verified: false,
  };
  const failure = {
    kind: "transient",
    scope: "connection",
    code: 451,
    enhanced: "4.7.5",
    reply: "451 4.7.5 TLS handshake with mx.dest.test failed: DANE authentication failed",
  } as const;
  table([
    {
      name: "unreachable: every queued delivery deferred with the decision",
      given: [
        start(L1),
        offer([a, b], L1),
        on({ kind: "connect_failed", conn: 1, failure, mxHost: MX, tlsDetail }, L1),
      ],
      when: reported(1, { ...L1, unreachableUntil: T0 + 60_000 }),
      then: [
        {
          kind: "log",
          event: {
            event: "domain.unreachable",
            domain: "dest.test",
            until: T0 + 60_000,
            reply: failure.reply,
          },
        },
        {
          kind: "record",
          conn: 1,
          outcomes: [a, b].map((d) => ({
            delivery: d,
            status: "deferred" as const,
            attempted: true,
            code: 451,
            enhanced: "4.7.5",
            reply: failure.reply,
            mxHost: MX,
            tlsDetail,
            nextAttemptAt: T0 + RETRY_MS,
          })),
        },
      ],
    },
  ]);
});

Deno.test("transition(): results become outcomes with their retry plan", () => {
  const [a, b, c, d] = [1, 2, 3, 4].map((id) => delivery(id, { outboxId: 7 }));
  const late = delivery(5, { outboxId: 7, attempts: 4, expiresAt: T0 + 1_000_000 });
  const gone = delivery(6, { outboxId: 7, expiresAt: T0 - 1 });
  const at = { ...L1, now: T0 + 200 };
  table([
    {
      name: "delivered, deferred (hint as a floor, schedule), bounced with suppression",
      given: sending([a!, b!, c!, d!]),
      when: sent(1, [
        ok(),
        tempfail({ retryAfterMs: 3_600_000, enhanced: "4.2.1" }),
        tempfail(),
        {
          kind: "permanent",
          scope: "recipient",
          code: 550,
          enhanced: "5.1.1",
          reply: "550 5.1.1 user unknown",
        },
      ], at),
      then: [
        { kind: "observe_attempt", seconds: 0.2 },
        { kind: "report", signal: "success" },
        {
          kind: "record",
          conn: 1,
          outcomes: [
            outcome(a!, "delivered", { code: 250, reply: "250 2.0.0 ok", durationMs: 200 }),
            outcome(b!, "deferred", {
              code: 450,
              enhanced: "4.2.1",
              reply: "450 4.2.1 try later",
              durationMs: 200,
              nextAttemptAt: T0 + 200 + 3_600_000,
            }),
            outcome(c!, "deferred", {
              code: 450,
              reply: "450 4.2.1 try later",
              durationMs: 200,
              nextAttemptAt: T0 + 200 + RETRY_MS,
            }),
            outcome(d!, "bounced", {
              code: 550,
              enhanced: "5.1.1",
              reply: "550 5.1.1 user unknown",
              durationMs: 200,
              suppress: true,
            }),
          ],
        },
      ],
      state: (s) => {
        assert.equal(s.lastReply, "550 5.1.1 user unknown", "the last reply heard");
        assert.equal(inFlight(s), 0);
      },
    },
    {
      name: "a retry that would land past expires_at expires now",
      given: sending([late]),
      when: sent(1, [tempfail()], L1),
      then: [
        { kind: "observe_attempt", seconds: 0 },
        {
          kind: "record",
          conn: 1,
          outcomes: [outcome(late, "expired", { code: 450, reply: "450 4.2.1 try later" })],
        },
      ],
    },
    {
      name: "a delivery already past expires_at is not sent: expired, keeping the last reply",
      given: asking([gone, a!]),
      when: granted(1, 2, L1),
      then: [{ kind: "send", conn: 1, outboxId: 7, recipients: [a!] }],
    },
    {
      name: "... and its outcome is written with the others",
      given: [...asking([gone, a!]), granted(1, 2, L1)],
      when: sent(1, [ok()], L1),
      then: [
        { kind: "observe_attempt", seconds: 0 },
        { kind: "report", signal: "success" },
        {
          kind: "record",
          conn: 1,
          outcomes: [
            { delivery: gone, status: "expired", attempted: false, code: null, reply: null },
            outcome(a!, "delivered", { code: 250, reply: "250 2.0.0 ok" }),
          ],
        },
      ],
    },
    {
      name: "a missing result is a transient failure of the message",
      given: sending([a!, b!]),
      when: sent(1, [ok()], L1),
      then: [
        { kind: "observe_attempt", seconds: 0 },
        { kind: "report", signal: "success" },
        {
          kind: "record",
          conn: 1,
          outcomes: [
            outcome(a!, "delivered", { code: 250, reply: "250 2.0.0 ok" }),
            outcome(b!, "deferred", {
              code: null,
              reply: "no result reported for recipient",
              nextAttemptAt: T0 + RETRY_MS,
            }),
          ],
        },
      ],
    },
    {
      name: "written: the connection looks for its next job",
      given: [...sending([a!]), sent(1, [ok()], L1)],
      when: recorded(1, L1),
      then: [{ kind: "set_timer", owner: 1, at: T0 + 5_000 }],
    },
  ]);
});

Deno.test("transition(): a connection closes when idle too long or wanted elsewhere", () => {
  const a = delivery(1);
  table([
    {
      name: "the idle timer: it closes",
      given: idle(a),
      when: timer(1, { ...L1, now: T0 + 5_000 }),
      then: [{ kind: "close", conn: 1 }],
    },
    {
      name: "closed: counted down; nothing queued, nothing opens",
      given: [...idle(a), timer(1, { ...L1, now: T0 + 5_000 })],
      when: closed(1, L1),
      then: [{ kind: "count_connection", delta: -1 }],
      state: (s) => assert.ok(isIdle(s)),
    },
    {
      name: "another connection waits for its host slot: it gives the slot up at once",
      given: idle(a),
      when: on({ kind: "wanted" }, { ...L1, wanted: [1] }),
      then: [{ kind: "clear_timer", owner: 1 }, { kind: "close", conn: 1 }],
    },
    {
      name: "no longer wanted when it woke: it keeps idling",
      given: idle(a),
      when: on({ kind: "wanted" }, L1),
      then: [],
    },
  ]);
});

Deno.test("transition(): messagesPerConnection reached closes the connection", () => {
  const [a, b] = [delivery(1), delivery(2)];
  const one = config({ messagesPerConnection: 1 });
  table([
    {
      name: "after its last job it closes, with work still queued",
      config: one,
      given: [...sending([a]), offer([b], L1), sent(1, [ok()], L1)],
      when: recorded(1, L1),
      then: [{ kind: "close", conn: 1 }],
    },
    {
      name: "a new connection takes the rest",
      config: one,
      given: [...sending([a]), offer([b], L1), sent(1, [ok()], L1), recorded(1, L1)],
      when: closed(1, L1),
      then: [{ kind: "count_connection", delta: -1 }, { kind: "connect", conn: 2 }],
    },
  ]);
});

Deno.test("transition(): drain, stop and kill", () => {
  const [a, b] = [delivery(1, { outboxId: 7 }), delivery(2, { outboxId: 7 })];
  const other = delivery(3, { domain: "other.test" });
  table([
    {
      name: "drain hands back everything queued, or one member domain's",
      given: [offer([a, other])],
      when: on({ kind: "drain", domain: "other.test" }),
      then: [{ kind: "give_back", deliveries: [other] }],
      state: (s) => assert.equal(s.jobs.size, 1),
    },
    {
      name: "stop closes an idle connection",
      given: idle(a),
      when: stop(L1),
      then: [{ kind: "clear_timer", owner: 1 }, { kind: "close", conn: 1 }],
    },
    {
      name: "... and run() finishes once it is closed",
      given: [...idle(a), stop(L1)],
      when: closed(1, L1),
      then: [{ kind: "count_connection", delta: -1 }, { kind: "finish" }],
    },
    {
      name: "stop lets the transaction in flight end and be written",
      given: [...sending([a]), stop(L1)],
      when: sent(1, [ok()], L1),
      then: [
        { kind: "observe_attempt", seconds: 0 },
        { kind: "report", signal: "success" },
        {
          kind: "record",
          conn: 1,
          outcomes: [outcome(a, "delivered", { code: 250, reply: ok().reply })],
        },
      ],
    },
    {
      name: "... then the connection closes instead of taking more",
      given: [...sending([a]), offer([delivery(4)], L1), stop(L1), sent(1, [ok()], L1)],
      when: recorded(1, L1),
      then: [{ kind: "close", conn: 1 }],
    },
    {
      name: "kill: what got no final answer goes back before the rest is written",
      given: [...sending([a, b]), stop(L1), kill(L1)],
      when: sent(1, [ok(), tempfail({ scope: "connection", code: null, reply: "aborted" })], L1),
      then: [{ kind: "release", conn: 1, deliveries: [b] }],
    },
    {
      name: "... and only the final answers become outcomes",
      given: [
        ...sending([a, b]),
        stop(L1),
        kill(L1),
        sent(1, [ok(), tempfail({ scope: "connection", code: null, reply: "aborted" })], L1),
      ],
      when: released(1, L1),
      then: [
        { kind: "observe_attempt", seconds: 0 },
        { kind: "report", signal: "success" },
        {
          kind: "record",
          conn: 1,
          outcomes: [outcome(a, "delivered", { code: 250, reply: ok().reply })],
        },
      ],
    },
    {
      name: "kill while connecting: the new session closes unused, not counted",
      given: [start(L1), offer([a], L1), stop(L1), kill(L1)],
      when: connected(1, L1),
      then: [{ kind: "close", conn: 1 }],
    },
    {
      name: "stopped before run(): run() finishes at once",
      given: [offer([a]), stop()],
      when: start(),
      then: [{ kind: "finish" }],
    },
  ]);
});

Deno.test("transition(): a claim near its lease end is handed back, not sent", () => {
  const fresh = delivery(1, { outboxId: 7 });
  const near = delivery(2, { outboxId: 7, leaseExpiresAt: T0 + 5_500 });
  const later = { ...L1, now: T0 + 1_000 };
  table([
    {
      name: "fresh when offered, within the margin when the budget lets it go: released first",
      given: [...asking([fresh, near]), refused(1, T0 + 1_000, L1), timer(1, later)],
      when: granted(1, 2, later),
      then: [{ kind: "release", conn: 1, deliveries: [near] }],
    },
    {
      name: "released: the fresh recipient is sent, without the other",
      given: [
        ...asking([fresh, near]),
        refused(1, T0 + 1_000, L1),
        timer(1, later),
        granted(1, 2, later),
      ],
      when: released(1, later),
      then: [{ kind: "send", conn: 1, outboxId: 7, recipients: [fresh] }],
    },
    {
      name: "nothing left to send: the (empty) outcomes are written and it goes on",
      given: [...asking([near]), refused(1, T0 + 1_000, L1), timer(1, later), granted(1, 1, later)],
      when: released(1, later),
      then: [{ kind: "record", conn: 1, outcomes: [] }],
    },
  ]);
});

Deno.test("transition(): throttling or a 421 cuts concurrency and moves to a new connection", () => {
  const [a, b] = [delivery(1), delivery(2)];
  const busy = tempfail({ scope: "connection", code: 421, reply: "421 4.7.0 too many" });
  table([
    {
      name: "a 421: the concurrency port hears of a throttling, the recipient is deferred",
      given: [...sending([a]), offer([b], L1)],
      when: sent(1, [busy], L1),
      then: [
        { kind: "observe_attempt", seconds: 0 },
        { kind: "report", signal: "throttled" },
        {
          kind: "record",
          conn: 1,
          outcomes: [outcome(a, "deferred", {
            code: 421,
            reply: busy.reply,
            nextAttemptAt: T0 + RETRY_MS,
          })],
        },
      ],
    },
    {
      name: "the session is no longer usable: it closes",
      given: [...sending([a]), offer([b], L1), sent(1, [busy], L1)],
      when: recorded(1, L1, false),
      then: [{ kind: "close", conn: 1 }],
    },
    {
      name: "closed: a new connection for the rest",
      given: [...sending([a]), offer([b], L1), sent(1, [busy], L1), recorded(1, L1, false)],
      when: closed(1, L1),
      then: [{ kind: "count_connection", delta: -1 }, { kind: "connect", conn: 2 }],
    },
    {
      name: "a 4xx of the message alone is neither a throttling nor a success",
      given: sending([a]),
      when: sent(1, [tempfail({ scope: "message", code: 451, reply: "451 later" })], L1),
      then: [
        { kind: "observe_attempt", seconds: 0 },
        {
          kind: "record",
          conn: 1,
          outcomes: [outcome(a, "deferred", {
            code: 451,
            reply: "451 later",
            nextAttemptAt: T0 + RETRY_MS,
          })],
        },
      ],
    },
  ]);
});

Deno.test("transition(): a throttling reply cuts both limits and pauses the destination", () => {
  const [a, b] = [delivery(1), delivery(2)];
  const slow = tempfail({
    scope: "message",
    code: 451,
    enhanced: "4.7.0",
    reply: "451 4.7.0 rate limited",
    slowDown: true,
  });
  const deferredA = (o: Partial<OutcomeRecord> = {}) =>
    outcome(a, "deferred", {
      code: 451,
      enhanced: "4.7.0",
      reply: slow.reply,
      nextAttemptAt: T0 + RETRY_MS,
      ...o,
    });
  const slowed = (until: number) => ({
    kind: "log" as const,
    event: { event: "domain.slowed" as const, domain: "dest.test", until, reply: slow.reply },
  });
  const throttled = [...sending([a]), offer([b], L1), sent(1, [slow], L1)];
  const at1s = { ...L1, now: T0 + 1_000 };
  table([
    {
      name: "the rate and the concurrency are cut (slow_down), a 1 s pause is logged",
      given: [...sending([a]), offer([b], L1)],
      when: sent(1, [slow], L1),
      then: [
        { kind: "observe_attempt", seconds: 0 },
        { kind: "report", signal: "slow_down" },
        slowed(T0 + 1_000),
        { kind: "record", conn: 1, outcomes: [deferredA()] },
      ],
      state: (s) => {
        assert.equal(s.pausedUntil, T0 + 1_000);
        assert.equal(blockedUntil(s, T0, undefined), T0 + 1_000, "no new connection meanwhile");
        assert.equal(
          demandOf(s, 1, 1000),
          1,
          "demand itself is the shell's: it reads blockedUntil",
        );
      },
    },
    {
      name: "the receiver's hint is the pause",
      given: [...sending([a]), offer([b], L1)],
      when: sent(1, [{ ...slow, retryAfterMs: 120_000 }], L1),
      then: [
        { kind: "observe_attempt", seconds: 0 },
        { kind: "report", signal: "slow_down" },
        slowed(T0 + 120_000),
        { kind: "record", conn: 1, outcomes: [deferredA()] },
      ],
    },
    {
      name: "a hint of hours pauses 15 minutes at most (the delivery keeps its own retry)",
      given: [...sending([a]), offer([b], L1)],
      when: sent(1, [{ ...slow, retryAfterMs: 3_600_000 }], L1),
      then: [
        { kind: "observe_attempt", seconds: 0 },
        { kind: "report", signal: "slow_down" },
        slowed(T0 + 15 * 60_000),
        { kind: "record", conn: 1, outcomes: [deferredA({ nextAttemptAt: T0 + 3_600_000 })] },
      ],
    },
    {
      name: "the open session waits the pause out instead of closing",
      given: throttled,
      when: recorded(1, L1),
      then: [{ kind: "set_timer", owner: 1, at: T0 + 1_000 }],
      state: (s) =>
        assert.deepEqual(s.conns[0]?.phase, {
          kind: "waiting",
          idleEnd: T0 + 5_000,
          for: "pause",
          until: T0 + 1_000,
        }),
    },
    {
      name: "the pause over: the next job asks the (cut) budget",
      given: [...throttled, recorded(1, L1)],
      when: timer(1, at1s),
      then: [{ kind: "take_budget", conn: 1, max: 1 }],
    },
    {
      name: "throttled again before any success: the pause doubles",
      given: [...throttled, recorded(1, L1), timer(1, at1s), granted(1, 1, at1s)],
      when: sent(1, [slow], at1s),
      then: [
        { kind: "observe_attempt", seconds: 0 },
        { kind: "report", signal: "slow_down" },
        slowed(T0 + 3_000),
        {
          kind: "record",
          conn: 1,
          outcomes: [
            outcome(b, "deferred", {
              code: 451,
              enhanced: "4.7.0",
              reply: slow.reply,
              nextAttemptAt: T0 + 1_000 + RETRY_MS,
            }),
          ],
        },
      ],
      state: (s) => assert.equal(s.slowDowns, 2),
    },
    {
      name: "a success ends the run of slow-downs: the rate may recover",
      given: [...throttled, recorded(1, L1), timer(1, at1s), granted(1, 1, at1s)],
      when: sent(1, [ok()], at1s),
      then: [
        { kind: "observe_attempt", seconds: 0 },
        { kind: "report", signal: "success" },
        {
          kind: "record",
          conn: 1,
          outcomes: [outcome(b, "delivered", { code: 250, reply: "250 2.0.0 ok" })],
        },
      ],
      state: (s) => assert.equal(s.slowDowns, 0),
    },
    {
      name: "a pause longer than the session may idle: it closes",
      given: [...sending([a]), offer([b], L1), sent(1, [{ ...slow, retryAfterMs: 60_000 }], L1)],
      when: recorded(1, L1),
      then: [{ kind: "close", conn: 1 }],
    },
    {
      name: "the run loop opens nothing during the pause, and wakes at its end",
      given: [
        ...sending([a]),
        offer([b], L1),
        sent(1, [{ ...slow, retryAfterMs: 60_000 }], L1),
        recorded(1, L1),
      ],
      when: closed(1, L1),
      then: [
        { kind: "count_connection", delta: -1 },
        { kind: "set_timer", owner: "loop", at: T0 + 60_000 },
      ],
    },
    {
      name: "a throttling reply also at 421 is a slow-down, not only a throttled connection",
      given: [...sending([a]), offer([b], L1)],
      when: sent(
        1,
        [{ ...slow, scope: "connection", code: 421, reply: "421 4.7.28 rate limited" }],
        L1,
      ),
      then: [
        { kind: "observe_attempt", seconds: 0 },
        { kind: "report", signal: "slow_down" },
        {
          kind: "log",
          event: {
            event: "domain.slowed",
            domain: "dest.test",
            until: T0 + 1_000,
            reply: "421 4.7.28 rate limited",
          },
        },
        {
          kind: "record",
          conn: 1,
          outcomes: [deferredA({ code: 421, reply: "421 4.7.28 rate limited" })],
        },
      ],
    },
    {
      name: "an operator's resume ends the pause",
      given: throttled,
      when: on({ kind: "resume" }, L1),
      then: [],
      state: (s) => assert.equal(blockedUntil(s, T0, undefined), 0),
    },
  ]);
});

Deno.test("transition(): a send that throws", () => {
  const a = delivery(1);
  const threw = (nothingSent: boolean) =>
    on({ kind: "send_threw", conn: 1, message: "store away", nothingSent }, L1);
  table([
    {
      name: "nothing sent (message unreadable): not an attempt; requeued; the actor pauses",
      given: sending([a]),
      when: threw(true),
      then: [{ kind: "record", conn: 1, outcomes: [] }],
      state: (s) => {
        assert.equal(s.jobs.size, 1);
        assert.equal(s.reconnectAt, T0 + 500);
        assert.equal(s.lastReply, "store away");
      },
    },
    {
      name: "... the pause blocks: the connection closes",
      given: [...sending([a]), threw(true)],
      when: recorded(1, L1),
      then: [{ kind: "close", conn: 1 }],
    },
    {
      name: "any other throw counts as a connection failure",
      given: sending([a]),
      when: threw(false),
      then: [
        { kind: "observe_attempt", seconds: 0 },
        { kind: "report", signal: "throttled" },
        {
          kind: "record",
          conn: 1,
          outcomes: [outcome(a, "deferred", {
            code: null,
            reply: "delivery failed: store away",
            nextAttemptAt: T0 + RETRY_MS,
          })],
        },
      ],
    },
  ]);
});

Deno.test("transition(): suspend and resume", () => {
  const a = delivery(1);
  const suspend = on({ kind: "suspend", until: T0 + 60_000, reason: "operator" });
  table([
    {
      name: "suspended: work waits; the run loop sleeps until the suspension ends",
      given: [start(), suspend],
      when: offer([a]),
      then: [{ kind: "set_timer", owner: "loop", at: T0 + 60_000 }],
    },
    {
      name: "resumed: connections open at once",
      given: [start(), suspend, offer([a])],
      when: on({ kind: "resume" }),
      then: [
        { kind: "connect", conn: 1 },
        { kind: "connect", conn: 2 },
        { kind: "clear_timer", owner: "loop" },
      ],
    },
    {
      name: "suspended: an idle connection closes",
      given: idle(a),
      when: suspend,
      then: [{ kind: "clear_timer", owner: 1 }, { kind: "close", conn: 1 }],
    },
  ]);
});

Deno.test("transition(): something that throws ends the run once the connections are gone", () => {
  const [a, b] = [delivery(1), delivery(2)];
  table([
    {
      name: "writing the outcomes threw: the connection closes",
      given: [...sending([a]), sent(1, [ok()], L1)],
      when: on({ kind: "crashed", owner: 1 }, L1),
      then: [{ kind: "close", conn: 1 }],
    },
    {
      name: "... no new connection opens for queued work, and run() ends",
      given: [
        ...sending([a]),
        offer([b], L1),
        sent(1, [ok()], L1),
        on({ kind: "crashed", owner: 1 }),
      ],
      when: closed(1, L1),
      then: [{ kind: "count_connection", delta: -1 }, { kind: "finish" }],
    },
  ]);
});

Deno.test("demandOf() and blockedUntil(): what the supervisor may claim", () => {
  const s = play(initialState(config()), [offer([delivery(1), delivery(2)])]).state;
  assert.equal(demandOf(s, 2, 1000), 2 * 2 - 2, "two connections take 2 queued each, 2 are");
  assert.equal(demandOf(s, 2, 3), 1, "the budget allows 3 soon");
  assert.equal(demandOf(s, 0, 1000), 0);
  const suspended = play(s, [on({ kind: "suspend", until: T0 + 60_000, reason: "x" })]).state;
  assert.equal(blockedUntil(suspended, T0, undefined), T0 + 60_000);
  assert.equal(blockedUntil(suspended, T0 + 60_000, undefined), 0, "a suspension that ended");
  assert.equal(blockedUntil(s, T0, T0 + 9), T0 + 9, "unreachable");
});

// ---- Sender limits ----

const senderRefused = (conn: number, sender: string, retryAt: number, r?: R) =>
  on({ kind: "sender_refused", conn, sender, retryAt, spacingMs: 100 }, r);

Deno.test("transition(): a job whose sender waits lets other senders' jobs go first", () => {
  const noisy = [1, 2].map((id) => delivery(id, { sender: "noisy.example" }));
  const quiet = delivery(3);
  table([
    {
      name: "the job's sender limit is asked along with the rate budget",
      given: [start(L1), offer([noisy[0]!, quiet], L1), connected(1, L1)],
      when: reported(1, L1),
      then: [
        { kind: "count_connection", delta: 1 },
        { kind: "watch", conn: 1 },
        { kind: "take_budget", conn: 1, max: 1, sender: "noisy.example" },
      ],
    },
    {
      name: "refused by its sender: the next job of another sender is asked for at once",
      given: asking([noisy[0]!, quiet]),
      when: senderRefused(1, "noisy.example", T0 + 700, L1),
      then: [{ kind: "take_budget", conn: 1, max: 1 }],
      state: (s) => {
        assert.equal(s.jobs.size, 2, "nothing is recorded: the noisy job waits");
        assert.deepEqual(s.senderWaits, { "noisy.example": { until: T0 + 700, spacingMs: 100 } });
      },
    },
    {
      name: "granted: the other sender's job is sent, the waiting one stays queued",
      given: [...asking([noisy[0]!, quiet]), senderRefused(1, "noisy.example", T0 + 700, L1)],
      when: granted(1, 1, L1),
      then: [{ kind: "send", conn: 1, outboxId: quiet.outboxId, recipients: [quiet] }],
      state: (s) => assert.equal(s.jobs.size, 1),
    },
    {
      name: "only waiting jobs left: the connection sleeps until the sender may go, not spinning",
      given: asking([noisy[0]!, noisy[1]!]),
      when: senderRefused(1, "noisy.example", T0 + 700, L1),
      then: [{ kind: "set_timer", owner: 1, at: T0 + 700 }],
    },
    {
      name: "the sender's wait over: it asks again",
      given: [...asking([noisy[0]!]), senderRefused(1, "noisy.example", T0 + 700, L1)],
      when: timer(1, { ...L1, now: T0 + 700 }),
      then: [{ kind: "take_budget", conn: 1, max: 1, sender: "noisy.example" }],
    },
    {
      name: "the sender limits changed (a reservation landed): it asks again at once",
      given: [...asking([noisy[0]!]), senderRefused(1, "noisy.example", T0 + 700, L1)],
      when: on({ kind: "senders_changed" }, { ...L1, now: T0 + 10 }),
      then: [
        { kind: "clear_timer", owner: 1 },
        { kind: "take_budget", conn: 1, max: 1, sender: "noisy.example" },
      ],
    },
  ]);
});

Deno.test("transition(): a waiting sender's jobs do not count as work to start", () => {
  const noisy = [1, 2, 3, 4].map((id) => delivery(id, { sender: "noisy.example" }));
  const { state } = play(initialState(config()), [
    ...asking(noisy),
    senderRefused(1, "noisy.example", T0 + 700, L1),
  ]);
  // Limit 1: one in flight and 2 queued per connection; the 2 kept wait for their sender.
  assert.equal(state.jobs.size, 2, "kept: what one connection could start soon");
  assert.equal(demandOf(state, 1, 1000, T0), 2, "other senders' mail is still claimed");
  assert.equal(demandOf(state, 1, 1000, T0 + 700), 0, "once the wait ends they count again");
});

Deno.test("transition(): a waiting sender's surplus goes back to the queue, spaced", () => {
  const noisy = [1, 2, 3, 4, 5, 6, 7].map((id) => delivery(id, { sender: "noisy.example" }));
  const { effects, state } = play(initialState(config()), [
    ...asking(noisy),
    senderRefused(1, "noisy.example", T0 + 700, L1),
  ]);
  // Kept 2 (limit 1 × 2); the 5 others in chunks of 2, each due 2 × 100 ms after the one before.
  assert.deepEqual(effects.filter((e) => e.kind === "hand_back"), [
    { kind: "hand_back", deliveries: [noisy[2]!, noisy[3]!], at: T0 + 900 },
    { kind: "hand_back", deliveries: [noisy[4]!, noisy[5]!], at: T0 + 1_100 },
    { kind: "hand_back", deliveries: [noisy[6]!], at: T0 + 1_300 },
  ]);
  assert.equal(state.jobs.size, 2);
  // More of the sender offered while it waits is trimmed the same way, other mail is kept.
  const more = delivery(8, { sender: "noisy.example" });
  const other = delivery(9);
  const next = play(state, [offer([more, other], { ...L1, now: T0 + 10 })]);
  assert.deepEqual(next.effects.filter((e) => e.kind === "hand_back"), [
    { kind: "hand_back", deliveries: [more], at: T0 + 900 },
  ]);
  assert.equal(next.state.jobs.size, 3);
});

Deno.test("transition(): a transaction's sender slot frees once its outcomes are written", () => {
  const d = delivery(1, { sender: "noisy.example" });
  const { state, effects } = play(initialState(config()), [
    ...asking([d]),
    granted(1, 1, L1),
    sent(1, [ok()], L1),
  ]);
  assert.ok(effects.some((e) => e.kind === "sender_done" && e.sender === "noisy.example"));
  assert.equal(state.conns[0]?.carrying, undefined);
  // A connection that breaks mid-transaction frees it too (when it closes).
  const broken = play(initialState(config()), [
    ...asking([d]),
    granted(1, 1, L1),
    on({ kind: "crashed", owner: 1 }, L1),
    closed(1, L1),
  ]);
  assert.deepEqual(broken.effects.filter((e) => e.kind === "sender_done"), [
    { kind: "sender_done", sender: "noisy.example" },
  ]);
});

Deno.test("transition(): a sender's wait neither outlasts a claim's lease nor holds expired mail", () => {
  // Claims whose lease (less the 10 s margin) ends before the wait does go back, due at its end.
  const short = delivery(1, { sender: "noisy.example", leaseExpiresAt: T0 + 30_000 });
  const long = delivery(2, { sender: "noisy.example", leaseExpiresAt: T0 + 120_000 });
  const { effects, state } = play(initialState(config()), [
    ...asking([long, short]),
    senderRefused(1, "noisy.example", T0 + 60_000, L1),
  ]);
  assert.deepEqual(effects.filter((e) => e.kind === "hand_back"), [
    { kind: "hand_back", deliveries: [short], at: T0 + 60_200 },
  ]);
  assert.equal(state.jobs.size, 1);
  // Mail past its expiry is not held to its sender's limit: it ends (expired) without a cell.
  const old = delivery(3, { sender: "noisy.example", expiresAt: T0 + 1_000 });
  const later = { ...L1, now: T0 + 2_000 };
  const next = play(state, [offer([old], later)]);
  assert.deepEqual(next.effects.at(-1), { kind: "take_budget", conn: 1, max: 1 }, "no sender");
});
