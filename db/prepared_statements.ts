/**
 * Server-side prepared statements for the statements Ferry runs again and again (ingestion, the
 * claim, outcome writes). Sent unnamed, as Kysely sends every statement, PostgreSQL parses and
 * plans each one from scratch on every call; the claim alone then spends more time in the planner
 * (0.9 ms a call) than in execution (0.5 ms). Named, a statement is parsed once per connection,
 * and after five executions PostgreSQL may keep a generic plan (`plan_cache_mode = auto` picks a
 * custom plan whenever the generic one would cost more).
 *
 * A text is named on its second use, so one-off statements (an operator's query with an IN list
 * of some length) never take a name; at most `maxNames` texts get one, the rest run unnamed as
 * before. A named statement that went wrong on the server (its result type changed under a
 * migration another instance ran: "cached plan must not change result type"; or it is unknown to
 * the server, as behind a pooler that moved the session) gives its text a new name for the next
 * use, so the error costs one failed statement, which the caller's loop retries as any other.
 *
 * Behind PgBouncer in transaction pooling mode before 1.21 (no `max_prepared_statements`), named
 * statements do not work at all: `database.preparedStatements: false` turns them off.
 *
 * @module
 */
import type pg from "pg";

export interface StatementNamesOptions {
  /** Uses of a text before it is named (default 2: named on its second use). */
  readonly after?: number;
  /** Most texts named at once (default 200); further texts run unnamed. */
  readonly maxNames?: number;
  /** Most texts counted while not yet named (default 2,000; the count starts over when full). */
  readonly maxSeen?: number;
}

/** Which statement texts get a name, and which. One per pool: names are unique per text. */
export class StatementNames {
  readonly #seen = new Map<string, number>();
  readonly #names = new Map<string, string>();
  #next = 0;
  readonly #after: number;
  readonly #maxNames: number;
  readonly #maxSeen: number;

  constructor(options: StatementNamesOptions = {}) {
    this.#after = options.after ?? 2;
    this.#maxNames = options.maxNames ?? 200;
    this.#maxSeen = options.maxSeen ?? 2000;
  }

  /** How many texts have a name now. */
  get size(): number {
    return this.#names.size;
  }

  /** The name to run `text` under, or undefined to run it unnamed. */
  nameFor(text: string): string | undefined {
    const known = this.#names.get(text);
    if (known !== undefined) return known;
    if (this.#names.size >= this.#maxNames) return undefined;
    const uses = (this.#seen.get(text) ?? 0) + 1;
    if (uses < this.#after) {
      if (this.#seen.size >= this.#maxSeen) this.#seen.clear();
      this.#seen.set(text, uses);
      return undefined;
    }
    this.#seen.delete(text);
    const name = `ferry_${this.#next++}`;
    this.#names.set(text, name);
    return name;
  }

  /** The statement named for `text` failed on the server: the next use prepares it afresh. */
  forget(text: string): void {
    this.#names.delete(text);
  }
}

/**
 * SQLSTATEs after which a named statement must not be used again on any connection:
 * 0A000 (feature_not_supported: "cached plan must not change result type") and 26000
 * (invalid_sql_statement_name: the server does not know the name).
 */
const STALE = new Set(["0A000", "26000"]);

/**
 * Makes `client` run the statements Kysely sends (text and a non-empty parameter list) as named
 * statements, as `names` decides; everything else (transaction control, cursors, callbacks) as
 * before.
 */
export function prepareStatements(client: pg.PoolClient, names: StatementNames): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const named = (...args: unknown[]): unknown => {
    const [text, values] = args;
    if (
      args.length !== 2 || typeof text !== "string" || !Array.isArray(values) ||
      values.length === 0
    ) {
      return query(...args);
    }
    const name = names.nameFor(text);
    if (name === undefined) return query(text, values);
    return (query({ name, text, values }) as Promise<unknown>).catch((err: unknown) => {
      if (STALE.has((err as { code?: unknown })?.code as string)) names.forget(text);
      throw err;
    });
  };
  Object.defineProperty(client, "query", { value: named, configurable: true, writable: true });
}
