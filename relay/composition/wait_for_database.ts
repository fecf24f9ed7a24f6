/**
 * At start the database may not answer yet (a container started before PostgreSQL, a server
 * restarting). The relay waits for it with capped, jittered exponential backoff instead of
 * exiting, saying once (and again only when the reason changes) what it waits for, by
 * host:port/database and never with the password, until it answers or the process is stopped.
 *
 * @module
 */
import type { Db } from "../../db/client.ts";
import { backoffDelay, ping } from "../../db/health.ts";
import type { Clock } from "../../lib/clock.ts";

/** `host:port/db` of a PostgreSQL URL, without user or password. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    const db = decodeURIComponent(u.pathname.replace(/^\//, "")) || "(default database)";
    return `${u.hostname || "localhost"}:${u.port || "5432"}/${db}`;
  } catch {
    return "(unparsable DATABASE_URL)";
  }
}

export interface WaitOptions {
  readonly db: Db;
  readonly url: string;
  readonly clock: Clock;
  readonly random: () => number;
  readonly signal: AbortSignal;
  /** Told each new reason (the first failure, then only when the reason changes). */
  readonly waiting: (line: string) => void;
}

/** Resolves true once `SELECT 1` answers, false when `signal` aborted first. */
export async function waitForDatabase(o: WaitOptions): Promise<boolean> {
  let attempt = 0;
  let last: string | undefined;
  while (!o.signal.aborted) {
    try {
      await ping(o.db);
      return true;
    } catch (err) {
      const reason = reasonOf(err);
      if (reason !== last) {
        o.waiting(`waiting for PostgreSQL at ${describeDatabaseUrl(o.url)}: ${reason}`);
        last = reason;
      }
    }
    await o.clock.sleep(backoffDelay(attempt++, o.random()), o.signal).catch(() => {});
  }
  return false;
}

function reasonOf(err: unknown): string {
  const e = err as { code?: string; message?: string; errors?: unknown[] };
  // node-postgres reports a refused IPv4+IPv6 connect as an AggregateError with no message.
  const inner = Array.isArray(e?.errors) && e.errors.length > 0 ? e.errors[0] : undefined;
  const text = e?.message || (inner as Error | undefined)?.message || e?.code || String(err);
  return text.replace(/postgres(ql)?:\/\/[^\s]*/g, "(url)");
}
