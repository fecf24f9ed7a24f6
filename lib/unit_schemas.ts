/**
 * Zod schemas for the units the config file is written in (lib/units.ts): every section of
 * the config (queue, delivery, domains, bounce, webhooks, alerts) reads durations and rates
 * through these, so they accept the same spellings and fail with the same message.
 *
 * @module
 */
import { z } from "zod";
import { parseDuration, parseRate } from "./units.ts";

/** A duration (`"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"5d"`) of at least `minMs`, in milliseconds. */
export function durationSchema(minMs = 0) {
  return z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined || ms < minMs) {
      ctx.addIssue({
        code: "custom",
        message: ms === undefined
          ? `expected a duration like "30s", "5m", "1h": got ${JSON.stringify(text)}`
          : `must be at least ${minMs} ms: got ${JSON.stringify(text)}`,
      });
      return z.NEVER;
    }
    return ms;
  });
}

/** A rate (`"100/s"`, `"20/m"`, `"1000/h"`, `"50000/d"`). */
export const rateSchema = z.string().transform((text, ctx) => {
  const r = parseRate(text);
  if (r === undefined) {
    ctx.addIssue({
      code: "custom",
      message: `expected a rate like "100/s", "1000/h": got ${JSON.stringify(text)}`,
    });
    return z.NEVER;
  }
  return r;
});
