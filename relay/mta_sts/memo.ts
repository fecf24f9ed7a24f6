/**
 * A short memory of decisions in front of {@link MtaSts}: the deliverer asks once per connection,
 * and without it every connection would read the policy table and look up the TXT record. A
 * decision is kept for `ttlMs` (a minute by default), so a changed TXT id is seen within that
 * time; failures to decide are not kept.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import type { MtaStsDecision } from "./policy_source.ts";

export interface PolicyLookup {
  policyFor(domain: string, signal?: AbortSignal): Promise<MtaStsDecision>;
}

export function rememberDecisions(
  inner: PolicyLookup,
  clock: Clock,
  options: { readonly ttlMs?: number; readonly maxEntries?: number } = {},
): PolicyLookup {
  const ttlMs = options.ttlMs ?? 60_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const kept = new Map<string, { readonly decision: MtaStsDecision; readonly until: number }>();
  return {
    async policyFor(domain, signal) {
      const key = domain.toLowerCase();
      const now = clock.now();
      const hit = kept.get(key);
      if (hit && hit.until > now) return hit.decision;
      const decision = await inner.policyFor(domain, signal);
      kept.delete(key);
      if (kept.size >= maxEntries) kept.delete(kept.keys().next().value!);
      kept.set(key, { decision, until: clock.now() + ttlMs });
      return decision;
    },
  };
}
