/**
 * Builds a destination's actor from its resolved policy: the GCRA rate budgets (with the adaptive
 * rate under them), AIMD concurrency and the retry schedule, all on the injected clock and
 * randomness. Given the state its destination's previous actor saved, the new one continues from
 * it (actors/destination_state.ts), wherever and whenever that one ran.
 *
 * @module
 */
import { AdaptiveBudget } from "./adaptive_rate.ts";
import { Aimd, DEFAULT_AIMD_CONFIG } from "./aimd.ts";
import { planRetry } from "./backoff.ts";
import { type DestinationLimits, restoreLimits, saveLimits } from "./destination_state.ts";
import { DomainActor } from "./domain_actor.ts";
import type { DomainPolicy } from "./policy.ts";
import type {
  ActorMetrics,
  Clock,
  Deliverer,
  Delivery,
  DestinationState,
  Logger,
  OutcomeRecord,
  Random,
} from "./ports.ts";
import { type Rate, RateBudget } from "./rate_budget.ts";
import type { SenderBudgets } from "./sender_budgets.ts";

export interface ActorFactoryDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly deliverer: Deliverer;
  readonly record: (outcome: OutcomeRecord) => Promise<boolean>;
  readonly logger: Logger;
  /** How long before a claim's lease ends it is no longer started. */
  readonly leaseMarginMs?: number;
  /** How long a claim's lease lasts (bounds how much the actor asks for). */
  readonly leaseMs?: number;
  /** Hands unstarted claims back to the queue, due at `at` (default: now). */
  readonly release?: (deliveries: readonly Delivery[], at?: number) => Promise<void>;
  /** The per-sender limits, shared by every actor of the process. */
  readonly senders?: SenderBudgets;
  readonly metrics?: ActorMetrics;
}

/**
 * The actor of destination `key` (a domain or an MX group), routed through `domain`, continuing
 * from `restored` when its destination's limits were saved.
 */
export function createDomainActor(
  key: string,
  domain: string,
  policy: DomainPolicy,
  deps: ActorFactoryDeps,
  restored?: DestinationState,
): DomainActor {
  const aimd = new Aimd({
    ...DEFAULT_AIMD_CONFIG,
    initial: policy.initialConnections,
    max: policy.maxConnections,
  });
  // The configured rates, and below them the rate the receiver's throttling replies allow.
  const rates = new RateBudget(policy.rates.map(withMargin));
  const budget = new AdaptiveBudget(rates);
  const connectionBudget = policy.connectionRate
    ? new RateBudget([withMargin(policy.connectionRate)])
    : undefined;
  const limits: DestinationLimits = {
    rates,
    adaptive: budget,
    concurrency: aimd,
    ...(connectionBudget ? { connections: connectionBudget } : {}),
  };
  if (restored) restoreLimits(limits, restored, deps.clock.now());
  return new DomainActor({
    domain: key,
    connectTo: domain,
    policy: {
      messagesPerConnection: policy.messagesPerConnection,
      idleTimeoutMs: policy.idleTimeoutMs,
      maxRecipientsPerTransaction: policy.maxRecipientsPerTransaction,
      // Enough for every connection to have work queued behind the one in flight.
      queueCapacity: Math.max(50, policy.maxConnections * 20),
      leaseMarginMs: deps.leaseMarginMs ?? 10_000,
      ...(deps.leaseMs !== undefined ? { leaseMs: deps.leaseMs } : {}),
    },
    clock: deps.clock,
    random: deps.random,
    deliverer: deps.deliverer,
    budget,
    ...(connectionBudget ? { connectionBudget } : {}),
    concurrency: aimd,
    planRetry: (o) => {
      const plan = planRetry({ ...o, policy: policy.retry, random: deps.random });
      return plan.kind === "retry" ? { kind: "retry", at: plan.at } : { kind: "expire" };
    },
    record: deps.metrics ? countOutcomes(deps.record, deps.metrics) : deps.record,
    ...(deps.release ? { release: deps.release } : {}),
    ...(deps.senders ? { senders: deps.senders } : {}),
    logger: deps.logger,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    saveState: () => saveLimits(limits),
    describeLimits: (now) => ({
      rates: policy.rates.map((r) => ({ count: r.count, perMs: r.perMs, burst: r.burst ?? 1 })),
      adaptivePerSecond: budget.limit ?? null,
      nextFreeAt: budget.nextFreeAt(now),
      maxConnections: policy.maxConnections,
    }),
  });
}

/** Counts each outcome once it is written; a refused one (lease lost) is not an outcome. */
function countOutcomes(
  record: (outcome: OutcomeRecord) => Promise<boolean>,
  metrics: ActorMetrics,
): (outcome: OutcomeRecord) => Promise<boolean> {
  return async (outcome) => {
    const refused = await record(outcome);
    if (!refused) metrics.recordOutcome(outcome.status);
    return refused;
  };
}

/**
 * The budget spaces sends 2% wider than the configured rate: a receiver counts arrivals, and
 * network and scheduling jitter can bring two sends spaced exactly at the limit closer together
 * on arrival. With the margin, "100/s" configured is never more than 100 in any second the
 * receiver measures (tests/e2e/rate_limit_at_receiver_test.ts).
 */
export const RATE_MARGIN = 1.02;

function withMargin(rate: Rate): Rate {
  return { ...rate, perMs: rate.perMs * RATE_MARGIN };
}
