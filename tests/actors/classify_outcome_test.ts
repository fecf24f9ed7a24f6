import assert from "node:assert/strict";
import { planRetry } from "../../actors/backoff.ts";
import {
  type ClassifyContext,
  classifyOutcome,
  isNoSuchAddress,
  type PlanRetry,
} from "../../actors/classify_outcome.ts";
import type { Delivery, FailureScope, RecipientResult } from "../../actors/ports.ts";

const NOW = Date.UTC(2030, 0, 1, 9);
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const SCOPES: readonly FailureScope[] = ["recipient", "message", "connection"];

function delivery(over: Partial<Delivery> = {}): Delivery {
  return {
    id: 11,
    outboxId: 5,
    recipient: "ada@x.test",
    domain: "x.test",
    priority: 1,
    attempts: 2,
    expiresAt: NOW + DAY,
    smtputf8: false,
    leaseToken: 99,
    leaseExpiresAt: NOW + 5 * MINUTE,
    ...over,
  };
}

/** A planRetry that records what it was asked and answers as told. */
function planner(answer: ReturnType<PlanRetry>) {
  const calls: Parameters<PlanRetry>[0][] = [];
  const plan: PlanRetry = (o) => {
    calls.push(o);
    return answer;
  };
  return { plan, calls };
}

/** Fails the test if retry planning is consulted (only transient failures may be retried). */
const noPlanning: PlanRetry = () => {
  throw new Error("planRetry must not be called for this result");
};

const ctx = (over: Partial<ClassifyContext> = {}): ClassifyContext => ({
  now: NOW,
  mxHost: "mx1.x.test",
  tls: true,
  durationMs: 420,
  planRetry: noPlanning,
  ...over,
});

const permanent = (
  over: Partial<Extract<RecipientResult, { kind: "permanent" }>> = {},
): Extract<RecipientResult, { kind: "permanent" }> => ({
  kind: "permanent",
  scope: "recipient",
  code: 550,
  reply: "550 5.7.1 refused",
  ...over,
});

const transient = (
  over: Partial<Extract<RecipientResult, { kind: "transient" }>> = {},
): Extract<RecipientResult, { kind: "transient" }> => ({
  kind: "transient",
  scope: "recipient",
  code: 451,
  reply: "451 4.3.0 try later",
  ...over,
});

Deno.test("classifyOutcome() records a 250 as delivered, with the host, TLS and duration", () => {
  const d = delivery();
  const r = classifyOutcome(d, { kind: "delivered", code: 250, reply: "250 2.0.0 queued" }, ctx());
  assert.deepEqual(r, {
    delivery: d,
    status: "delivered",
    attempted: true,
    code: 250,
    reply: "250 2.0.0 queued",
    mxHost: "mx1.x.test",
    tls: true,
    durationMs: 420,
  });
});

Deno.test("classifyOutcome() leaves out what the context does not know, rather than recording undefined", () => {
  const r = classifyOutcome(
    delivery(),
    { kind: "delivered", code: 250, reply: "250 ok" },
    { now: NOW, planRetry: noPlanning },
  );
  for (const key of ["mxHost", "tls", "durationMs", "enhanced", "nextAttemptAt", "suppress"]) {
    assert.ok(!(key in r), `${key} absent`);
  }
  // tls: false and durationMs: 0 are facts, not absences.
  const plain = classifyOutcome(
    delivery(),
    { kind: "delivered", code: 250, reply: "250 ok" },
    { now: NOW, tls: false, durationMs: 0, planRetry: noPlanning },
  );
  assert.equal(plain.tls, false);
  assert.equal(plain.durationMs, 0);
});

Deno.test("classifyOutcome() records a 5xx as bounced with its enhanced code, never planning a retry", () => {
  const d = delivery();
  const r = classifyOutcome(d, permanent({ enhanced: "5.7.1" }), ctx());
  assert.deepEqual(r, {
    delivery: d,
    status: "bounced",
    attempted: true,
    code: 550,
    reply: "550 5.7.1 refused",
    enhanced: "5.7.1",
    mxHost: "mx1.x.test",
    tls: true,
    durationMs: 420,
    suppress: false,
  });
});

Deno.test("classifyOutcome() bounces a permanent failure of any scope, also one with no code", () => {
  for (const scope of SCOPES) {
    const r = classifyOutcome(delivery(), permanent({ scope, code: null }), ctx());
    assert.equal(r.status, "bounced", scope);
    assert.equal(r.code, null, scope);
    assert.equal(r.attempted, true, scope);
  }
});

Deno.test("classifyOutcome() suppresses the address when a recipient's 5xx says it does not exist", () => {
  const r = classifyOutcome(
    delivery(),
    permanent({ enhanced: "5.1.1", reply: "550 5.1.1 <ada@x.test>: user unknown" }),
    ctx(),
  );
  assert.equal(r.status, "bounced");
  assert.equal(r.suppress, true);
});

Deno.test("isNoSuchAddress() believes the enhanced codes for a bad, moved or null-MX mailbox", () => {
  for (const enhanced of ["5.1.1", "5.1.6", "5.1.10"]) {
    assert.equal(isNoSuchAddress(permanent({ enhanced, reply: "550 no" })), true, enhanced);
  }
  // Other addressing codes and near misses say something else (a bad domain, a full mailbox).
  for (const enhanced of ["5.1.2", "5.1.3", "5.1.0", "5.1.11", "5.1.100", "5.2.2", "5.7.1"]) {
    assert.equal(isNoSuchAddress(permanent({ enhanced, reply: "550 no" })), false, enhanced);
  }
});

Deno.test("isNoSuchAddress() trusts the enhanced code over the text when both are given", () => {
  // A policy refusal that happens to mention "user unknown" in its prose is not an address
  // problem when the code says otherwise; conversely a bare text is enough with a matching code.
  assert.equal(
    isNoSuchAddress(permanent({ enhanced: "5.7.1", reply: "550 5.7.1 user unknown or blocked" })),
    false,
  );
  assert.equal(isNoSuchAddress(permanent({ enhanced: "5.1.1", reply: "550 rejected" })), true);
});

Deno.test("isNoSuchAddress() reads the reply text when there is no enhanced code", () => {
  const yes = [
    "550 User unknown",
    "550 unknown user: ada",
    "550 No such user here",
    "550 no such mailbox",
    "550 No Such Recipient",
    "550 no such address",
    "550 mailbox does not exist",
    "550 Unknown recipient",
    "550 Invalid mailbox",
    "550 invalid recipient",
    "550 Recipient address rejected: User unknown in local recipient table",
    "550 recipient rejected: mailbox unavailable",
  ];
  for (const reply of yes) assert.equal(isNoSuchAddress(permanent({ reply })), true, reply);
  const no = [
    "552 mailbox full",
    "550 message rejected as spam",
    "554 relay access denied",
    "550 Recipient address rejected: Access denied",
    "550 sender unknown",
  ];
  for (const reply of no) assert.equal(isNoSuchAddress(permanent({ reply })), false, reply);
});

Deno.test("isNoSuchAddress() is about one recipient's permanent failure only", () => {
  const unknown = { enhanced: "5.1.1", reply: "550 5.1.1 user unknown" };
  // A whole message or connection refused says nothing about this one address.
  assert.equal(isNoSuchAddress(permanent({ ...unknown, scope: "message" })), false);
  assert.equal(isNoSuchAddress(permanent({ ...unknown, scope: "connection" })), false);
  // A temporary "user unknown" (a directory lookup that failed) is not a verdict.
  assert.equal(
    isNoSuchAddress(transient({ enhanced: "4.1.1", reply: "450 4.1.1 user unknown" })),
    false,
  );
  assert.equal(isNoSuchAddress(transient({ reply: "450 user unknown" })), false);
  assert.equal(isNoSuchAddress({ kind: "delivered", code: 250, reply: "250 no such user" }), false);
  for (const scope of ["message", "connection"] as const) {
    const r = classifyOutcome(delivery(), permanent({ ...unknown, scope }), ctx());
    assert.equal(r.suppress, false, scope);
  }
});

Deno.test("classifyOutcome() defers a 4xx to the time retry planning gives, counting this attempt", () => {
  const { plan, calls } = planner({ kind: "retry", at: NOW + 10 * MINUTE });
  const d = delivery({ attempts: 2, expiresAt: NOW + DAY });
  const r = classifyOutcome(d, transient({ enhanced: "4.3.0" }), ctx({ planRetry: plan }));
  assert.deepEqual(r, {
    delivery: d,
    status: "deferred",
    attempted: true,
    code: 451,
    reply: "451 4.3.0 try later",
    enhanced: "4.3.0",
    mxHost: "mx1.x.test",
    tls: true,
    durationMs: 420,
    nextAttemptAt: NOW + 10 * MINUTE,
  });
  // attempts counts the attempt that just failed; no hint was given, so none is passed on.
  assert.deepEqual(calls, [{ attempts: 3, now: NOW, expiresAt: NOW + DAY }]);
  assert.ok(!("hintMs" in calls[0]!));
});

Deno.test("classifyOutcome() passes the server's retry-after hint to retry planning", () => {
  const { plan, calls } = planner({ kind: "retry", at: NOW + 30 * MINUTE });
  classifyOutcome(
    delivery({ attempts: 0 }),
    transient({ retryAfterMs: 30 * MINUTE }),
    ctx({ planRetry: plan }),
  );
  assert.deepEqual(calls, [{ attempts: 1, now: NOW, expiresAt: NOW + DAY, hintMs: 30 * MINUTE }]);
});

Deno.test("classifyOutcome() plans from the context's now, not the delivery's lease or any clock", () => {
  const { plan, calls } = planner({ kind: "retry", at: 1 });
  classifyOutcome(delivery(), transient(), ctx({ now: NOW + 123, planRetry: plan }));
  assert.equal(calls[0]?.now, NOW + 123);
});

Deno.test("classifyOutcome() expires a 4xx when no attempt fits before expiry, keeping its reply", () => {
  const { plan, calls } = planner({ kind: "expire" });
  const d = delivery({ expiresAt: NOW + MINUTE });
  const r = classifyOutcome(d, transient({ enhanced: "4.2.2" }), ctx({ planRetry: plan }));
  assert.deepEqual(r, {
    delivery: d,
    status: "expired",
    attempted: true,
    code: 451,
    reply: "451 4.3.0 try later",
    enhanced: "4.2.2",
    mxHost: "mx1.x.test",
    tls: true,
    durationMs: 420,
  });
  assert.equal(calls.length, 1);
});

Deno.test("classifyOutcome() treats a transient failure of any scope alike, and never suppresses", () => {
  for (const scope of SCOPES) {
    const { plan } = planner({ kind: "retry", at: NOW + MINUTE });
    const r = classifyOutcome(
      delivery(),
      transient({ scope, code: null }),
      ctx({ planRetry: plan }),
    );
    assert.equal(r.status, "deferred", scope);
    assert.equal(r.nextAttemptAt, NOW + MINUTE, scope);
    assert.equal(r.code, null, scope);
    assert.ok(!("suppress" in r), scope);
  }
});

Deno.test("classifyOutcome() records Ferry's own refusals without an MX host, and keeps the rest", () => {
  const { plan } = planner({ kind: "retry", at: NOW + MINUTE });
  const bounced = classifyOutcome(
    delivery(),
    permanent({ local: true, code: 554, enhanced: "5.3.4", reply: "554 5.3.4 too big (Ferry)" }),
    ctx(),
  );
  assert.equal(bounced.status, "bounced");
  assert.ok(!("mxHost" in bounced), "no receiving host said it");
  assert.equal(bounced.enhanced, "5.3.4");
  assert.equal(bounced.tls, true);
  assert.equal(bounced.durationMs, 420);
  const deferred = classifyOutcome(
    delivery(),
    transient({ local: true }),
    ctx({ planRetry: plan }),
  );
  assert.equal(deferred.status, "deferred");
  assert.ok(!("mxHost" in deferred));
  // An explicit local: false is the receiver's answer, as is no flag at all.
  const theirs = classifyOutcome(delivery(), permanent({ local: false }), ctx());
  assert.equal(theirs.mxHost, "mx1.x.test");
});

Deno.test("classifyOutcome() with the real retry planner: deferred within the schedule, expired past expiry", () => {
  const policy = { first: 5 * MINUTE, factor: 2, max: 60 * MINUTE, jitter: 0 };
  const real: PlanRetry = (o) => {
    const p = planRetry({ ...o, policy, random: () => 0 });
    return p.kind === "retry" ? { kind: "retry", at: p.at } : { kind: "expire" };
  };
  // Third failure (two before it): 5 min doubled twice.
  const later = classifyOutcome(delivery({ attempts: 2 }), transient(), ctx({ planRetry: real }));
  assert.equal(later.status, "deferred");
  assert.equal(later.nextAttemptAt, NOW + 20 * MINUTE);
  // The hint is a floor on the delay.
  const hinted = classifyOutcome(
    delivery({ attempts: 0 }),
    transient({ retryAfterMs: 45 * MINUTE }),
    ctx({ planRetry: real }),
  );
  assert.equal(hinted.nextAttemptAt, NOW + 45 * MINUTE);
  // Next attempt exactly at expiry is too late: expired now rather than deferred to fail then.
  const atExpiry = classifyOutcome(
    delivery({ attempts: 0, expiresAt: NOW + 5 * MINUTE }),
    transient(),
    ctx({ planRetry: real }),
  );
  assert.equal(atExpiry.status, "expired");
  const justBefore = classifyOutcome(
    delivery({ attempts: 0, expiresAt: NOW + 5 * MINUTE + 1 }),
    transient(),
    ctx({ planRetry: real }),
  );
  assert.equal(justBefore.status, "deferred");
});

Deno.test("classifyOutcome() never changes the delivery it is given", () => {
  const d = delivery();
  const before = structuredClone(d);
  const { plan } = planner({ kind: "retry", at: NOW + MINUTE });
  classifyOutcome(d, transient(), ctx({ planRetry: plan }));
  classifyOutcome(d, permanent({ enhanced: "5.1.1" }), ctx());
  assert.deepEqual(d, before);
});
