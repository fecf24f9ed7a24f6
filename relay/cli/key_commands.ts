/**
 * `ferry keys ...`: create, list and revoke the admin API's keys (the `admin` scope, or
 * FERRY_ADMIN_TOKEN). A new key's token is printed once: the relay keeps only a hash of it.
 *
 * @module
 */
import { CliError } from "./api_client.ts";
import { type CommandContext, flag, positional } from "./context.ts";
import { formatTable } from "./table.ts";

interface ApiKey {
  name: string;
  scopes: string[];
  prefix: string;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

export async function keysCreate(ctx: CommandContext): Promise<void> {
  const name = positional(ctx, 0, "key name");
  const scopes = flag(ctx, "scopes")?.split(",").map((s) => s.trim()).filter(Boolean) ?? [];
  if (scopes.length === 0) {
    throw new CliError(
      "missing --scopes (a comma-separated list of read, send, operate, admin)",
      2,
    );
  }
  const key: ApiKey & { token: string } = await ctx.client.call("POST", "/api/v1/keys", {
    name,
    scopes,
  });
  ctx.out(
    `Created key ${key.name} with scopes ${key.scopes.join(",")}.\n` +
      `Its token, shown this once (only a hash is kept):\n${key.token}\n`,
  );
}

export async function keysList(ctx: CommandContext): Promise<void> {
  const r: { keys: ApiKey[] } = await ctx.client.call("GET", "/api/v1/keys");
  if (r.keys.length === 0) {
    ctx.out("No API key (FERRY_ADMIN_TOKEN works alone)\n");
    return;
  }
  ctx.out(formatTable(
    [
      { title: "NAME", max: 64 },
      { title: "SCOPES" },
      { title: "PREFIX" },
      { title: "CREATED" },
      { title: "LAST USED" },
      { title: "REVOKED" },
    ],
    r.keys.map((k) => [
      k.name,
      k.scopes.join(","),
      k.prefix,
      k.created_at,
      k.last_used_at ?? "never",
      k.revoked_at ?? "",
    ]),
  ));
}

export async function keysRevoke(ctx: CommandContext): Promise<void> {
  const name = positional(ctx, 0, "key name");
  const r: { revoked_at: string } = await ctx.client.call(
    "DELETE",
    `/api/v1/keys/${encodeURIComponent(name)}`,
  );
  ctx.out(`Revoked key ${name} (since ${r.revoked_at}): its token is refused from now on\n`);
}
