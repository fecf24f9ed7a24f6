/**
 * An adapter from the actors' supervisor (`Supervisor.describe(now)`: every running actor with
 * the domains it serves and its snapshot) to the {@link DomainStateProvider} port. It reads the
 * actors' snapshot types (actors/snapshots.ts) and nothing else of actors/.
 *
 * It also remembers since when each destination has been unreachable: actors report until when
 * they back off (`unreachableUntil`), the alert rule needs how long the outage has lasted.
 *
 * @module
 */
import type { ActorDescription, DomainActorSnapshot } from "../../actors/snapshots.ts";
import type { Clock } from "../../lib/clock.ts";
import type { DomainStateProvider, LiveDomainState } from "./domain_state.ts";

export type { ActorDescription } from "../../actors/snapshots.ts";

export function supervisorDomainState(o: {
  readonly describe: (now: number) => readonly ActorDescription[];
  readonly clock: Clock;
  /** The configured rate of a destination, shown beside its budget (`"100/m"`). */
  readonly rateOf?: (domain: string) => string | undefined;
}): DomainStateProvider {
  const downSince = new Map<string, number>();
  return {
    domainState(domain?: string): LiveDomainState[] {
      const now = o.clock.now();
      const out: LiveDomainState[] = [];
      const seen = new Set<string>();
      for (const actor of o.describe(now)) {
        const s: Partial<DomainActorSnapshot> = actor.state ?? {};
        const downUntil = s.unreachableUntil ?? 0;
        const down = downUntil > now;
        for (const d of actor.domains) {
          seen.add(d);
          if (down && !downSince.has(d)) downSince.set(d, now);
          if (!down) downSince.delete(d);
          if (domain !== undefined && d !== domain) continue;
          out.push({
            domain: d,
            state: (s.suspendedUntil ?? 0) > now
              ? "suspended"
              : down
              ? "unreachable"
              : (s.inFlight ?? 0) > 0
              ? "sending"
              : (s.queued ?? 0) > 0
              ? "queued"
              : "idle",
            inFlight: (s.inFlight ?? 0) + (s.queued ?? 0),
            connections: s.connections ?? 0,
            connectionLimit: s.connectionLimit ?? null,
            connectionMax: s.limits?.maxConnections ?? null,
            rateBudget: s.budgetAvailable === undefined ? null : {
              available: Math.floor(s.budgetAvailable),
              rate: (s.limits ? rateText(s.limits.rates) : undefined) ?? o.rateOf?.(d) ?? null,
              adaptivePerSecond: s.limits?.adaptivePerSecond ?? null,
              nextFreeAt: s.limits ? new Date(s.limits.nextFreeAt) : null,
            },
            pausedUntil: s.pausedUntil ? new Date(s.pausedUntil) : null,
            lastThrottle: s.lastThrottle
              ? { text: s.lastThrottle.reply, at: new Date(s.lastThrottle.at) }
              : null,
            actor: actor.domains.length > 1 ? actor.key : null,
            backoffUntil: down ? new Date(downUntil) : null,
            unreachableSince: down ? new Date(downSince.get(d)!) : null,
            lastReply: s.lastReply ? { code: replyCode(s.lastReply), text: s.lastReply } : null,
          });
        }
      }
      // Actors that stopped take their outage with them.
      for (const d of downSince.keys()) if (!seen.has(d)) downSince.delete(d);
      return out;
    },
  };
}

const UNIT = new Map([[1_000, "s"], [60_000, "m"], [3_600_000, "h"], [86_400_000, "d"]]);

/** Rates as the config writes them: `"100/m, 5000/h (burst 20)"`; undefined for none. */
function rateText(
  rates: readonly { count: number; perMs: number; burst: number }[],
): string | undefined {
  if (rates.length === 0) return undefined;
  return rates.map((r) =>
    `${r.count}/${UNIT.get(r.perMs) ?? `${r.perMs}ms`}${r.burst > 1 ? ` (burst ${r.burst})` : ""}`
  ).join(", ");
}

function replyCode(reply: string): number | null {
  const m = /^([2-5]\d\d)\b/.exec(reply);
  return m ? Number(m[1]) : null;
}
