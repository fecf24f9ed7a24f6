/**
 * Moving fake time in an end-to-end test whose I/O is real. Fake time must not run ahead while
 * the relay waits on a socket or the database: under CPU load one SMTP round trip can take tens
 * of real milliseconds, and stepping the clock meanwhile fires SMTP timeouts, lease margins and
 * retry schedules that real time never would (flaky tests). So time moves only once the relay
 * is quiet: no SMTP operation and no database statement in flight, for a couple of event-loop
 * turns. Both waits are bounded, so a test that does want time to pass during I/O (a peer that
 * never answers) still gets it, only later.
 *
 * @module
 */
import type { ConnectResult, Deliverer, Session } from "../../actors/ports.ts";
import type { FakeClock } from "../_fakes/fake_clock.ts";

/** Counts a relay's real I/O in flight: SMTP operations, plus probes (database pools). */
export class IoTracker {
  #smtp = 0;
  readonly #probes: (() => number)[] = [];
  readonly #parked: (() => number)[] = [];

  /** Adds something else that may be busy, e.g. a database's `inUse`. */
  probe(busy: (() => number) | undefined): void {
    if (busy) this.#probes.push(busy);
  }

  /**
   * Adds operations that wait for fake time by design (a peer that never answers, a connect
   * that never completes): counted among those in flight, they would hold time still until
   * the quiet wait gives up, every step. `parked` says how many wait now.
   */
  park(parked: () => number): void {
    this.#parked.push(parked);
  }

  /** Operations in flight now. */
  busy(): number {
    let n = this.#smtp;
    for (const p of this.#probes) n += p();
    for (const p of this.#parked) n -= p();
    return Math.max(0, n);
  }

  /** The same deliverer, counting connect(), send() and close() while they run. */
  wrap(deliverer: Deliverer): Deliverer {
    return {
      connect: async (destination, signal, waitingSince): Promise<ConnectResult> => {
        const r = await this.#count(() => deliverer.connect(destination, signal, waitingSince));
        return r.kind === "connected"
          ? { kind: "connected", session: this.#session(r.session) }
          : r;
      },
    };
  }

  #session(s: Session): Session {
    return {
      get mxHost() {
        return s.mxHost;
      },
      get tls() {
        return s.tls;
      },
      get tlsDetail() {
        return s.tlsDetail;
      },
      get usable() {
        return s.usable;
      },
      send: (outboxId, recipients, signal) =>
        this.#count(() => s.send(outboxId, recipients, signal)),
      close: () => this.#count(() => s.close()),
    };
  }

  async #count<T>(op: () => Promise<T>): Promise<T> {
    this.#smtp++;
    try {
      return await op();
    } finally {
      this.#smtp--;
    }
  }
}

/** Real milliseconds a single wait for quiet may take before time moves on anyway. */
export const QUIET_MAX_MS = 2_000;

/**
 * Resolves once nothing is in flight for two event-loop turns in a row, or after `maxMs` of
 * real time. Returns whether it got quiet.
 */
export async function untilQuiet(io: IoTracker, maxMs = QUIET_MAX_MS): Promise<boolean> {
  const end = performance.now() + maxMs;
  let quietTurns = 0;
  while (performance.now() < end) {
    await new Promise((r) => setTimeout(r, 0));
    quietTurns = io.busy() === 0 ? quietTurns + 1 : 0;
    if (quietTurns >= 2) return true;
  }
  return false;
}

export interface PumpOptions {
  /** Fake milliseconds per step. */
  readonly stepMs: number;
  readonly maxSteps: number;
  /** Real milliseconds the whole pump may take. */
  readonly maxRealMs: number;
}

/**
 * Advances `clock` by `stepMs` at a time, each step only once the relay is quiet, until `cond`
 * holds. Fails after `maxSteps` steps or `maxRealMs` real milliseconds, naming `what`.
 */
export async function pumpUntil(
  clock: FakeClock,
  io: IoTracker,
  cond: () => boolean | Promise<boolean>,
  what: string,
  o: PumpOptions,
): Promise<void> {
  const end = performance.now() + o.maxRealMs;
  for (let i = 0; i < o.maxSteps; i++) {
    // Let the I/O the last step started finish first: it may be what the test waits for.
    await untilQuiet(io);
    if (await cond()) return;
    if (performance.now() > end) {
      throw new Error(
        `Cannot finish the test as ${what} did not happen within ${o.maxRealMs} ms of real time (${i} steps of ${o.stepMs} ms)`,
      );
    }
    await clock.advance(o.stepMs);
  }
  throw new Error(
    `Cannot finish the test as ${what} did not happen within ${o.maxSteps} steps of ${o.stepMs} ms`,
  );
}
