/**
 * Whether the database answers, as every loop of the relay sees it. A loop that fails reports the
 * error here: an error of the connection (server stopped, restarting, unreachable) marks the
 * database down once, with one log line, and starts one probe that retries with capped,
 * jittered exponential backoff until the server answers again; meanwhile the loops skip their
 * work instead of each retrying (and logging) on its own. An error that is not the connection's
 * is the caller's to report: it is a bug or a bad row, not an outage.
 *
 * @module
 */
import { sql } from "kysely";
import type { Db } from "./client.ts";

/** SQLSTATE classes and codes that mean "the connection", not "the statement" (PostgreSQL A.1). */
const CONNECTION_STATES = /^(08...|57P0[1-4]|53300|3D000)$/;
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);
const CONNECTION_MESSAGES =
  /connection terminated|connection (?:refused|reset)|server closed the connection|timeout exceeded when trying to connect|client has encountered a connection error|cannot use a pool after calling end|connection ended unexpectedly/i;

/** True when `err` says the database could not be reached or dropped the connection. */
export function isConnectionError(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; depth++) {
    if (typeof e !== "object") break;
    const o = e as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown };
    if (typeof o.code === "string") {
      if (CONNECTION_STATES.test(o.code) || CONNECTION_CODES.has(o.code)) return true;
    }
    if (o.name === "ConnectionRefused" || o.name === "ConnectionReset") return true;
    if (typeof o.message === "string" && CONNECTION_MESSAGES.test(o.message)) return true;
    if (Array.isArray((o as { errors?: unknown }).errors)) {
      if ((o as { errors: unknown[] }).errors.some(isConnectionError)) return true;
    }
    e = o.cause;
  }
  return false;
}

/** One round trip that touches no table (`SELECT 1`): throws when the database does not answer. */
export async function ping(db: Db): Promise<void> {
  // raw SQL: a bare statement needs only the handle's executor, which tests/db/health_test.ts fakes
  await sql`SELECT 1`.execute(db);
}

/**
 * The wait before probe `attempt` (0-based): `baseMs · 2^attempt`, capped at `capMs`, then scaled
 * by a random factor in [0.5, 1) so that instances that lost the same server do not return to it
 * in lockstep ("equal jitter").
 */
export function backoffDelay(
  attempt: number,
  random: number,
  options: { baseMs: number; capMs: number } = { baseMs: 250, capMs: 10_000 },
): number {
  const raw = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(raw * (0.5 + random / 2));
}

export interface HealthClock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export type DatabaseHealthEvent =
  | { readonly event: "database.down"; readonly error: string }
  | { readonly event: "database.up"; readonly downMs: number; readonly probes: number };

export interface DatabaseHealthDeps {
  readonly db: Db;
  readonly clock: HealthClock;
  readonly random: () => number;
  readonly log: (e: DatabaseHealthEvent) => void;
  /** Told 1 or 0 at every change (the `ferry_database_up` gauge). */
  readonly setUp?: (up: boolean) => void;
  /** Runs when the probe first succeeds, before the loops resume (held outcomes are written). */
  readonly beforeUp?: () => Promise<void>;
  readonly backoff?: { baseMs: number; capMs: number };
  /** Stops the probe (process shutdown). */
  readonly signal: AbortSignal;
}

export class DatabaseHealth {
  #up = true;
  #since = 0;
  #probes = 0;
  #probing: Promise<void> | undefined;
  readonly #waiters = new Set<() => void>();
  readonly #deps: DatabaseHealthDeps;

  constructor(deps: DatabaseHealthDeps) {
    this.#deps = deps;
    deps.setUp?.(true);
  }

  /** False from a connection error until a probe succeeds. */
  get up(): boolean {
    return this.#up;
  }

  /**
   * Reports a failed database call. Returns true when it was the connection's fault (the caller
   * says nothing and waits for {@link waitUntilUp}); false when the caller should report it.
   */
  failed(err: unknown): boolean {
    if (!isConnectionError(err)) return false;
    this.markDown(err);
    return true;
  }

  /** Marks the database down (once) and starts the probe. */
  markDown(err: unknown): void {
    if (!this.#up) return;
    this.#up = false;
    this.#since = this.#deps.clock.now();
    this.#probes = 0;
    this.#deps.setUp?.(false);
    this.#deps.log({ event: "database.down", error: text(err) });
    this.#probing ??= this.#probe().finally(() => (this.#probing = undefined));
  }

  /** Resolves once the database is up (at once when it is), or when `signal` aborts. */
  waitUntilUp(signal?: AbortSignal): Promise<void> {
    if (this.#up || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.#waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  /** Asks the database now (for `/readyz`); a connection error marks it down. */
  async check(timeoutMs = 2000): Promise<boolean> {
    const timer = new AbortController();
    try {
      const ok = await Promise.race([
        ping(this.#deps.db).then(() => true),
        this.#deps.clock.sleep(timeoutMs, timer.signal).then(() => false, () => false),
      ]);
      if (!ok) this.markDown(new Error(`no answer within ${timeoutMs} ms`));
      return ok && this.#up;
    } catch (err) {
      this.markDown(err);
      return false;
    } finally {
      timer.abort();
    }
  }

  /** Resolves when the probe loop (if any) has ended. */
  async stopped(): Promise<void> {
    await this.#probing;
  }

  async #probe(): Promise<void> {
    const { clock, signal } = this.#deps;
    while (!this.#up && !signal.aborted) {
      const wait = backoffDelay(this.#probes, this.#deps.random(), this.#deps.backoff);
      this.#probes++;
      await clock.sleep(wait, signal).catch(() => {});
      if (signal.aborted) break;
      try {
        await ping(this.#deps.db);
        await this.#deps.beforeUp?.();
      } catch {
        continue;
      }
      this.#up = true;
      this.#deps.setUp?.(true);
      this.#deps.log({
        event: "database.up",
        downMs: clock.now() - this.#since,
        probes: this.#probes,
      });
    }
    for (const w of [...this.#waiters]) w();
  }
}

function text(err: unknown): string {
  return err instanceof Error ? err.message || err.name : String(err);
}
