/**
 * The few pieces of SQL the query builder has no words for, used inside builder queries. They
 * are fragments, not statements: each is spliced into a statement the builder writes.
 *
 * @module
 */
import { type RawBuilder, sql } from "kysely";

/**
 * `any($1::bigint[])`: the whole list as one array parameter. The builder's `in` sends one
 * parameter per value (a different statement text for every list length, and a limit of 65535),
 * and its casts know no array types.
 */
export function anyBigint(ids: readonly number[]): RawBuilder<number> {
  return sql<number>`any(${[...ids]}::bigint[])`;
}

/** `any($1::text[])`, for the reasons of {@link anyBigint}. */
export function anyText<T extends string>(values: readonly T[]): RawBuilder<T> {
  return sql<T>`any(${[...values]}::text[])`;
}

/**
 * Known values (never user input: enum members) as SQL literals, for an `in` list: a literal
 * list lets the planner prove a partial index's predicate (`WHERE status IN (...)`) from the
 * query text, whatever the plan cache does with parameters.
 */
export function literals<const T extends string>(values: readonly T[]): RawBuilder<T>[] {
  return values.map((v) => sql.lit<T>(v));
}
