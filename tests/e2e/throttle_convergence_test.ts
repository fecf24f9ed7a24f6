/**
 * A receiver that throttles: it takes at most LIMIT messages in any trailing second and answers
 * MAIL beyond that with `451 4.7.0 rate limited`, as large providers do. No rate is configured
 * for it, so Ferry starts unlimited; the sending rate the receiver sees must come under its
 * limit within a bounded (fake) time, stay there, and climb back once the receiver relaxes.
 * Figures per window are printed for the record.
 */
import assert from "node:assert/strict";
import { smtpError, startSmtpServer } from "../relay/smtp/_smtp_server.ts";
import { enqueue, startTestRelay } from "./_relay.ts";

/** Messages per trailing second the receiver accepts while it throttles. */
const LIMIT = 10;
const WINDOW_MS = 5_000;
/** The receiver relaxes (takes everything) this long after the first message. */
const RELAX_AT_MS = 40_000;
/** How long after the first message the test watches. */
const END_MS = 60_000;
/** By then the rate must be under the limit in every window. */
const CONVERGED_BY_MS = 10_000;

Deno.test({
  name: "relay converges under a throttling receiver's rate and recovers when it relaxes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    let now = () => 0;
    let relaxed = false;
    const attempts: number[] = [];
    const accepted: number[] = [];
    await using server = await startSmtpServer({
      onMailFrom(_a, _s, cb) {
        const t = now();
        attempts.push(t);
        if (!relaxed && accepted.filter((x) => x > t - 1_000).length >= LIMIT) {
          return cb(smtpError(451, "4.7.0 rate limited"));
        }
        accepted.push(t);
        cb();
      },
    });
    await using r = await startTestRelay({ routes: `*=127.0.0.1:${server.port}` });
    now = () => r.clock.now();
    for (let i = 0; i < 700; i++) await enqueue(r, { to: [`u${i}@busy.test`] });
    await r.pumpUntil(() => attempts.length > 0, "a first message", 20, 1_000);
    const start = attempts[0]!;
    await r.pumpUntil(
      () => {
        if (!relaxed && r.clock.now() >= start + RELAX_AT_MS) relaxed = true;
        return r.clock.now() >= start + END_MS;
      },
      "the end of the watch",
      20,
      (END_MS / 20) + 100,
      240_000,
    );

    const windows: { from: number; tried: number; took: number; refused: number }[] = [];
    for (let from = 0; from < END_MS; from += WINDOW_MS) {
      const inside = (t: number) => t >= start + from && t < start + from + WINDOW_MS;
      const tried = attempts.filter(inside).length;
      const took = accepted.filter(inside).length;
      windows.push({ from, tried, took, refused: tried - took });
    }
    const perSecond = (n: number) => (n / (WINDOW_MS / 1_000)).toFixed(1);
    console.log(`receiver limit ${LIMIT}/s until ${RELAX_AT_MS / 1000} s, then none`);
    console.log("window      seen/s  accepted/s  refused");
    for (const w of windows) {
      console.log(
        `${String(w.from / 1000).padStart(3)}-${String((w.from + WINDOW_MS) / 1000).padEnd(3)} s` +
          `  ${perSecond(w.tried).padStart(6)}  ${perSecond(w.took).padStart(10)}  ${
            String(w.refused).padStart(7)
          }`,
      );
    }
    const firstSeconds = Array.from({ length: 5 }, (_, i) => {
      const inside = (t: number) => t >= start + i * 1_000 && t < start + (i + 1) * 1_000;
      return `${attempts.filter(inside).length}/${accepted.filter(inside).length}`;
    });
    console.log(`first five seconds, seen/accepted: ${firstSeconds.join(" ")}`);
    const slowed = r.events.filter((e) => e.event === "domain.slowed").length;
    console.log(`slow-downs logged: ${slowed}`);

    assert.ok(windows[0]!.refused > 0, "unlimited at first: the receiver had to refuse");
    const throttled = windows.filter((w) => w.from >= CONVERGED_BY_MS && w.from < RELAX_AT_MS);
    for (const w of throttled) {
      assert.ok(
        w.tried <= LIMIT * (WINDOW_MS / 1_000),
        `${perSecond(w.tried)}/s seen at ${w.from / 1000} s: over the ${LIMIT}/s limit`,
      );
      assert.ok(w.tried >= (LIMIT / 4) * (WINDOW_MS / 1_000), "slowed down, not stopped");
      assert.ok(w.refused <= 3, `${w.refused} refused at ${w.from / 1000} s`);
    }
    // Relaxed: the rate climbs step by step until the episode ends, then the queue drains at
    // full speed (it may run dry before the watch ends).
    const relaxedWindows = windows.filter((w) => w.from >= RELAX_AT_MS);
    const best = Math.max(...relaxedWindows.map((w) => w.took));
    assert.ok(
      best > 2 * LIMIT * (WINDOW_MS / 1_000),
      `${perSecond(best)}/s at best after the receiver relaxed: not above the old limit`,
    );
    assert.equal(relaxedWindows.reduce((n, w) => n + w.refused, 0), 0);
  },
});
