/**
 * Command-line parsing for the operator CLI: positionals and `--flag value` / `--flag=value` /
 * boolean `--flag`. Unknown flags are reported, not ignored.
 *
 * @module
 */

export interface ParsedArgs {
  readonly positionals: string[];
  readonly flags: Map<string, string | true>;
}

export type ParseResult =
  | { readonly kind: "ok"; readonly args: ParsedArgs }
  | { readonly kind: "error"; readonly message: string };

/** `valued` lists the flags that take a value; every other known flag is boolean. */
export function parseArgs(
  argv: readonly string[],
  valued: readonly string[],
  booleans: readonly string[],
): ParseResult {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--") || arg === "--") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (valued.includes(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) return { kind: "error", message: `--${name} needs a value` };
      flags.set(name, value);
    } else if (booleans.includes(name) && eq < 0) {
      flags.set(name, true);
    } else {
      return { kind: "error", message: `unknown option --${name}` };
    }
  }
  return { kind: "ok", args: { positionals, flags } };
}
