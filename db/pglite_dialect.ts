/**
 * A Kysely dialect for PGlite (PostgreSQL compiled to WebAssembly, in process).
 *
 * PGlite is one connection, so the driver hands it out to one Kysely connection at a time: a
 * transaction holds it until commit or rollback and other queries queue behind it, which is
 * exactly how a one-connection pool behaves. The SQL, the adapter and the introspector are
 * Kysely's PostgreSQL ones, so the embedded database runs the very same queries as the server.
 *
 * @module
 */
import type { PGlite } from "@electric-sql/pglite";
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
} from "kysely";
import type { Kysely } from "kysely";

export class PGliteDialect implements Dialect {
  constructor(readonly pglite: PGlite) {}
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.pglite);
  }
  createIntrospector(db: Kysely<unknown>) {
    return new PostgresIntrospector(db);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
}

class PGliteDriver implements Driver {
  #queue: Promise<void> = Promise.resolve();
  #connection: PGliteConnection;

  constructor(pglite: PGlite) {
    this.#connection = new PGliteConnection(pglite);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    // A chain of promises is the mutex: each acquirer waits for the previous release.
    let release!: () => void;
    const previous = this.#queue;
    this.#queue = new Promise<void>((r) => (release = r));
    await previous;
    this.#connection.release = release;
    return this.#connection;
  }

  async beginTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery({ sql: "BEGIN", parameters: [] } as unknown as CompiledQuery);
  }

  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery({ sql: "COMMIT", parameters: [] } as unknown as CompiledQuery);
  }

  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery({ sql: "ROLLBACK", parameters: [] } as unknown as CompiledQuery);
  }

  releaseConnection(conn: DatabaseConnection): Promise<void> {
    (conn as PGliteConnection).release();
    return Promise.resolve();
  }

  async destroy(): Promise<void> {
    await this.#queue;
  }
}

class PGliteConnection implements DatabaseConnection {
  release: () => void = () => {};
  constructor(readonly pglite: PGlite) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (query.parameters.length === 0) {
      // No parameters: the simple protocol, which also runs multi-statement scripts
      // (migrations). The last statement's result is the answer.
      const results = await this.pglite.exec(query.sql);
      const last = results[results.length - 1];
      return {
        rows: (last?.rows ?? []) as R[],
        numAffectedRows: last?.affectedRows === undefined ? undefined : BigInt(last.affectedRows),
      };
    }
    const result = await this.pglite.query<R>(query.sql, [...query.parameters]);
    return {
      rows: result.rows,
      numAffectedRows: result.affectedRows === undefined ? undefined : BigInt(result.affectedRows),
    };
  }

  // deno-lint-ignore require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("Cannot stream a query as the PGlite dialect does not support streaming");
  }
}
