/**
 * The units config is written in: durations ("250ms", "30s", "5m", "1h", "5d") and rates
 * ("100/s", "1000/h", "20/m", "50000/d"), as KumoMTA writes them.
 *
 * @module
 */

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration into milliseconds; `undefined` when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}

/** A rate: `count` events per `perMs` milliseconds. */
export interface Rate {
  readonly count: number;
  readonly perMs: number;
}

const RATE = /^(\d+(?:\.\d+)?)\s*\/\s*(ms|s|m|h|d|sec|min|hour|day)$/;
const RATE_UNIT: Record<string, string> = { sec: "s", min: "m", hour: "h", day: "d" };

/** Parses `"100/s"` style rates; `undefined` when malformed or zero. */
export function parseRate(text: string): Rate | undefined {
  const m = RATE.exec(text.trim());
  if (!m) return undefined;
  const count = Number(m[1]);
  if (!(count > 0)) return undefined;
  const unit = RATE_UNIT[m[2]!] ?? m[2]!;
  return { count, perMs: UNIT_MS[unit]! };
}
