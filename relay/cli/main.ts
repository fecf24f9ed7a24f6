/**
 * `deno task ferry ...`: the operator CLI. It talks to the admin API of a running relay
 * (`FERRY_ADMIN_URL`, default http://127.0.0.1:8787, with `FERRY_ADMIN_TOKEN`), never to the
 * database, so it works the same against a container or a remote host.
 *
 * Exit codes: 0 done, 1 the operation failed (API error, relay unreachable), 2 usage error.
 *
 * @module
 */
import { adminClient, CliError } from "./api_client.ts";
import { parseArgs } from "./args.ts";
import type { CommandContext } from "./context.ts";
import {
  domainList,
  domainResume,
  domainShow,
  domainSuspend,
  suppressAdd,
  suppressList,
  suppressRemove,
} from "./domain_commands.ts";
import { keysCreate, keysList, keysRevoke } from "./key_commands.ts";
import { queueCancel, queueFlush, queueList, queueRetry, queueShow } from "./queue_commands.ts";

export const USAGE = `Usage: ferry <command> [options]

Queue (Postfix habits in brackets):
  queue list [--status S,S] [--domain D] [--recipient R] [--limit N]   (postqueue -p)
  queue show ID                                      one message with every attempt (postcat -q)
  queue flush [DOMAIN]                               retry deferred mail now (postqueue -f / -s)
  queue retry ID                                     retry one message now
  queue cancel ID                                    cancel one message (postsuper -d ID)
  queue cancel ALL [--domain D] [--status S] [--batch N]   cancel everything waiting (postsuper -d ALL)

Destinations:
  domain list [--limit N]
  domain show DOMAIN
  domain suspend DOMAIN --minutes N --reason TEXT
  domain resume DOMAIN

Suppression list:
  suppress list [PREFIX]
  suppress add ADDRESS --reason TEXT [--sender-domain DOMAIN]
  suppress remove ADDRESS [--sender-domain DOMAIN]

API keys (scopes: read, send, operate, admin):
  keys create NAME --scopes read,send               prints the key's token, once
  keys list
  keys revoke NAME

Options: --url URL (or FERRY_ADMIN_URL, default http://127.0.0.1:8787),
         --token TOKEN (or FERRY_ADMIN_TOKEN: the bootstrap token or an API key), --help
`;

type Command = (ctx: CommandContext) => Promise<void>;

const COMMANDS: Record<string, Record<string, Command>> = {
  queue: {
    list: queueList,
    show: queueShow,
    flush: queueFlush,
    retry: queueRetry,
    cancel: queueCancel,
  },
  domain: { list: domainList, show: domainShow, suspend: domainSuspend, resume: domainResume },
  suppress: { list: suppressList, add: suppressAdd, remove: suppressRemove },
  keys: { create: keysCreate, list: keysList, revoke: keysRevoke },
};

const VALUED = [
  "url",
  "token",
  "status",
  "domain",
  "recipient",
  "limit",
  "minutes",
  "reason",
  "batch",
  "scopes",
  "sender-domain",
];

export interface CliIo {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly fetch: typeof fetch;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Whether stdout is a terminal: progress then rewrites one line. */
  readonly isTerminal?: boolean;
  /** Wall-clock now; defaults to Date.now (the CLI is a process entry point, not library code). */
  readonly now?: () => number;
}

/** Runs one command; returns the exit code. */
export async function main(io: CliIo): Promise<number> {
  const parsed = parseArgs(io.argv, VALUED, ["help"]);
  if (parsed.kind === "error") {
    io.stderr(`ferry: ${parsed.message}\n\n${USAGE}`);
    return 2;
  }
  const { positionals, flags } = parsed.args;
  if (flags.has("help") || positionals[0] === "help") {
    io.stdout(USAGE);
    return 0;
  }
  const [group, name, ...rest] = positionals;
  const command = group && name ? COMMANDS[group]?.[name] : undefined;
  if (!command) {
    const what = group
      ? `unknown command: ${[group, name].filter(Boolean).join(" ")}`
      : "no command";
    io.stderr(`ferry: ${what}\n\n${USAGE}`);
    return 2;
  }
  const url = (flags.get("url") as string | undefined) ?? io.env.FERRY_ADMIN_URL ??
    "http://127.0.0.1:8787";
  const token = (flags.get("token") as string | undefined) ?? io.env.FERRY_ADMIN_TOKEN;
  let progressShown = false;
  const ctx: CommandContext = {
    client: adminClient(url, token, io.fetch),
    positionals: rest,
    flags,
    out: (text) => {
      if (progressShown && io.isTerminal) io.stdout("\n");
      progressShown = false;
      io.stdout(text);
    },
    progress: (text) => {
      progressShown = true;
      io.stdout(io.isTerminal ? `\r${text}` : `${text}\n`);
    },
    now: io.now ?? Date.now,
  };
  try {
    await command(ctx);
    return 0;
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr(`ferry: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

/** Writes all of `text` (writeSync may take part of a large buffer). */
function writeAll(file: typeof Deno.stdout, text: string): void {
  let bytes = new TextEncoder().encode(text);
  for (let i = 0; bytes.length > 0 && i < 1_000_000; i++) {
    bytes = bytes.subarray(file.writeSync(bytes));
  }
}

if (import.meta.main) {
  Deno.exit(
    await main({
      argv: Deno.args,
      env: Deno.env.toObject(),
      fetch,
      stdout: (t) => writeAll(Deno.stdout, t),
      stderr: (t) => writeAll(Deno.stderr, t),
      isTerminal: Deno.stdout.isTerminal(),
    }),
  );
}
