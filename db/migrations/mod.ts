/**
 * Every migration, listed statically in order. A migration's SQL runs in one transaction; its
 * version is recorded in `ferry.schema_migrations` in the same transaction. Never edit a
 * migration that has shipped: add a new one.
 *
 * @module
 */
import { up as initial } from "./0001_initial.ts";

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly up: string;
}

export const migrations: readonly Migration[] = [
  { version: 1, name: "initial", up: initial },
];
