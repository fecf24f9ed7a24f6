/**
 * `ferry domain ...` (list, show, suspend, resume, flush) and `ferry suppress ...`.
 *
 * @module
 */
import { CliError } from "./api_client.ts";
import { type CommandContext, flag, intFlag, positional } from "./context.ts";
import { formatTable } from "./table.ts";

interface DomainState {
  domain: string;
  queued: number;
  deferred: number;
  sending: number;
  suspended: { reason: string; until: string } | null;
  live: {
    state: string;
    connections: number;
    in_flight: number;
    rate_budget: { available: number; capacity: number | null; rate: string | null } | null;
    backoff_until: string | null;
  } | null;
  last_reply?: { code: number | null; reply: string; at: string } | null;
}

const path = (d: string) => `/api/v1/domains/${encodeURIComponent(d)}`;

export async function domainList(ctx: CommandContext): Promise<void> {
  const r: { domains: DomainState[] } = await ctx.client.call(
    "GET",
    `/api/v1/domains?limit=${intFlag(ctx, "limit", 50)}`,
  );
  if (r.domains.length === 0) {
    ctx.out("No destination has mail waiting\n");
    return;
  }
  ctx.out(formatTable(
    [
      { title: "DOMAIN", max: 40 },
      { title: "QUEUED", align: "right" },
      { title: "DEFERRED", align: "right" },
      { title: "SENDING", align: "right" },
      { title: "ACTOR" },
      { title: "CONNS", align: "right" },
      { title: "BUDGET" },
      { title: "SUSPENDED UNTIL" },
    ],
    r.domains.map((d) => [
      d.domain,
      d.queued,
      d.deferred,
      d.sending,
      d.live?.state ?? "-",
      d.live?.connections ?? "",
      d.live?.rate_budget
        ? `${d.live.rate_budget.available}${
          d.live.rate_budget.capacity === null ? "" : `/${d.live.rate_budget.capacity}`
        }`
        : "",
      d.suspended ? `${d.suspended.until} (${d.suspended.reason})` : "",
    ]),
  ));
}

export async function domainShow(ctx: CommandContext): Promise<void> {
  const d: DomainState = await ctx.client.call("GET", path(positional(ctx, 0, "domain")));
  const lines = [
    `Domain ${d.domain}`,
    `  waiting     ${d.queued} queued, ${d.deferred} deferred, ${d.sending} sending`,
    `  suspended   ${d.suspended ? `until ${d.suspended.until}: ${d.suspended.reason}` : "no"}`,
  ];
  if (d.live) {
    lines.push(
      `  actor       ${d.live.state}, ${d.live.connections} connections, ${d.live.in_flight} in flight`,
    );
    if (d.live.rate_budget) {
      const b = d.live.rate_budget;
      lines.push(
        `  budget      ${b.available}${b.capacity === null ? "" : `/${b.capacity}`}${
          b.rate ? ` at ${b.rate}` : ""
        }`,
      );
    }
    if (d.live.backoff_until) lines.push(`  backoff     until ${d.live.backoff_until}`);
  } else {
    lines.push("  actor       none running");
  }
  if (d.last_reply) lines.push(`  last reply  ${d.last_reply.reply}`);
  ctx.out(lines.join("\n") + "\n");
}

export async function domainSuspend(ctx: CommandContext): Promise<void> {
  const domain = positional(ctx, 0, "domain");
  const reason = flag(ctx, "reason");
  if (!reason) throw new CliError("missing --reason (why deliveries are suspended)", 2);
  const r: { until: string } = await ctx.client.call("POST", `${path(domain)}/suspend`, {
    minutes: intFlag(ctx, "minutes", 60),
    reason,
  });
  ctx.out(`Suspended deliveries to ${domain} until ${r.until}\n`);
}

export async function domainResume(ctx: CommandContext): Promise<void> {
  const domain = positional(ctx, 0, "domain");
  const r: { resumed: boolean } = await ctx.client.call("POST", `${path(domain)}/resume`);
  ctx.out(r.resumed ? `Resumed deliveries to ${domain}\n` : `${domain} was not suspended\n`);
}

export async function suppressList(ctx: CommandContext): Promise<void> {
  const prefix = ctx.positionals[0];
  const r: {
    suppressions: {
      address: string;
      reason: string;
      source: string;
      expires_at: string | null;
      sender_domain?: string | null;
    }[];
  } = await ctx.client.call(
    "GET",
    `/api/v1/suppressions?limit=${intFlag(ctx, "limit", 100)}${
      prefix ? `&prefix=${encodeURIComponent(prefix)}` : ""
    }`,
  );
  if (r.suppressions.length === 0) {
    ctx.out("No suppressed address\n");
    return;
  }
  ctx.out(formatTable(
    [
      { title: "ADDRESS", max: 50 },
      // A scoped entry stops only mail whose From is in that domain (one-click unsubscribe).
      { title: "SENDER" },
      { title: "SOURCE" },
      { title: "EXPIRES" },
      { title: "REASON" },
    ],
    r.suppressions.map((s) => [
      s.address,
      s.sender_domain ?? "all",
      s.source,
      s.expires_at ?? "never",
      s.reason,
    ]),
  ));
}

export async function suppressAdd(ctx: CommandContext): Promise<void> {
  const address = positional(ctx, 0, "address");
  const reason = flag(ctx, "reason");
  if (!reason) throw new CliError("missing --reason", 2);
  const sender = flag(ctx, "sender-domain");
  await ctx.client.call("POST", "/api/v1/suppressions", {
    address,
    reason,
    ...(sender ? { sender_domain: sender } : {}),
  });
  ctx.out(`Suppressed ${address.toLowerCase()}${sender ? ` for mail from ${sender}` : ""}\n`);
}

export async function suppressRemove(ctx: CommandContext): Promise<void> {
  const address = positional(ctx, 0, "address");
  const sender = flag(ctx, "sender-domain");
  const query = sender ? `?sender_domain=${encodeURIComponent(sender)}` : "";
  await ctx.client.call("DELETE", `/api/v1/suppressions/${encodeURIComponent(address)}${query}`);
  ctx.out(
    `Removed ${address.toLowerCase()} from the suppression list${
      sender ? ` for mail from ${sender}` : ""
    }\n`,
  );
}
