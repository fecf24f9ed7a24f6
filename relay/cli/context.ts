/**
 * What a command runs with: the API client, where to write, the parsed flags.
 *
 * @module
 */
import type { AdminClient } from "./api_client.ts";
import { CliError } from "./api_client.ts";

export interface CommandContext {
  readonly client: AdminClient;
  readonly positionals: readonly string[];
  readonly flags: ReadonlyMap<string, string | true>;
  out(text: string): void;
  /** Rewrites the current line on a terminal (progress), prints a line otherwise. */
  progress(text: string): void;
  /** Wall-clock now, for ages ("2h ago"). */
  now(): number;
}

/** The value of `--name`, or undefined. */
export function flag(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.flags.get(name);
  return typeof v === "string" ? v : undefined;
}

/** `--name` as a positive integer, or `fallback`. */
export function intFlag(ctx: CommandContext, name: string, fallback: number): number {
  const v = flag(ctx, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    throw new CliError(`--${name} must be a positive whole number: got ${JSON.stringify(v)}`, 2);
  }
  return n;
}

/** The `i`-th positional argument; a usage error naming `what` when missing. */
export function positional(ctx: CommandContext, i: number, what: string): string {
  const v = ctx.positionals[i];
  if (v === undefined) throw new CliError(`missing ${what}`, 2);
  return v;
}

/** A message id: a positive integer. */
export function messageId(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) {
    throw new CliError(`expected a message id (a positive number): got ${JSON.stringify(text)}`, 2);
  }
  return n;
}
