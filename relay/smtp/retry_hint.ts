/**
 * Extracts a "come back later" hint from the text of a 4xx reply, such as Postgrey's
 * "Greylisted, please try again in 300 seconds" or "421 Too many connections, retry in 5
 * minutes". Hints are advisory: nothing in RFC 5321 defines them, so only an explicit number with
 * a time unit after a retry-like word counts, and the result is capped at one day.
 *
 * @module
 */

const HINT =
  /\b(?:retry|try|again|come\s+back|wait|reconnect)\b[^0-9\n]{0,30}?\b(?:in|after|for)\s+(\d{1,6})\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)\b/i;

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000 };
const MAX_MS = 24 * 3_600_000;

/** The hinted delay in milliseconds, or `undefined` when the text has no clear hint. */
export function retryAfterFromText(text: string): number | undefined {
  const m = HINT.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2]!.toLowerCase()[0]!;
  const ms = n * UNIT_MS[unit]!;
  return ms > 0 ? Math.min(ms, MAX_MS) : undefined;
}
