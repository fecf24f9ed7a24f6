/**
 * `ferry queue ...`, with Postfix operators' habits:
 *
 * | ferry                 | Postfix            |
 * |-----------------------|--------------------|
 * | `queue list`          | `postqueue -p`     |
 * | `queue show ID`       | `postcat -q ID`    |
 * | `queue flush [DOMAIN]`| `postqueue -f`, `postqueue -s DOMAIN` |
 * | `queue retry ID`      | `postqueue -i ID`  |
 * | `queue cancel ID|ALL` | `postsuper -d ID|ALL` |
 *
 * IDs are message (outbox) ids, as `queue list` shows in its MSG column.
 *
 * @module
 */
import { type CommandContext, flag, intFlag, messageId, positional } from "./context.ts";
import { formatTable, shortSpan } from "./table.ts";

interface Delivery {
  id: number;
  outbox_id: number;
  recipient: string;
  domain: string;
  status: string;
  attempts: number;
  next_attempt_at: string;
  created_at: string;
  last_code: number | null;
  last_reply: string | null;
  from_address: string | null;
  subject: string | null;
}

interface Event {
  at: string;
  kind: string;
  mx_host: string | null;
  code: number | null;
  reply: string | null;
}

export async function queueList(ctx: CommandContext): Promise<void> {
  const limit = intFlag(ctx, "limit", 100);
  const params = new URLSearchParams({ status: flag(ctx, "status") ?? "queued,deferred,sending" });
  for (const f of ["domain", "recipient"]) {
    const v = flag(ctx, f);
    if (v) params.set(f, v);
  }
  const rows: Delivery[] = [];
  let cursor: string | null = null;
  // Pages of up to 500 until `limit` rows; bounded by the limit itself.
  while (rows.length < limit) {
    params.set("limit", String(Math.min(500, limit - rows.length)));
    if (cursor) params.set("cursor", cursor);
    const page: { deliveries: Delivery[]; next_cursor: string | null } = await ctx.client.call(
      "GET",
      `/api/v1/messages?${params}`,
    );
    rows.push(...page.deliveries);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  const queue: { counts: Record<string, number> } = await ctx.client.call("GET", "/api/v1/queue");
  if (rows.length === 0) {
    ctx.out("Mail queue is empty\n");
    return;
  }
  const now = ctx.now();
  ctx.out(formatTable(
    [
      { title: "MSG", align: "right" },
      { title: "DELIVERY", align: "right" },
      { title: "STATUS" },
      { title: "TRIES", align: "right" },
      { title: "AGE", align: "right" },
      { title: "NEXT", align: "right" },
      { title: "SENDER", max: 32 },
      { title: "RECIPIENT", max: 36 },
      { title: "LAST REPLY", max: 60 },
    ],
    rows.map((d) => {
      const next = Date.parse(d.next_attempt_at) - now;
      return [
        d.outbox_id,
        d.id,
        d.status,
        d.attempts,
        shortSpan(now - Date.parse(d.created_at)),
        d.status === "sending" ? "now" : next <= 0 ? "due" : `in ${shortSpan(next)}`,
        d.from_address,
        d.recipient,
        d.last_reply ?? "",
      ];
    }),
  ));
  const c = queue.counts;
  const more = cursor ? " (more: raise --limit)" : "";
  ctx.out(
    `-- ${rows.length} deliveries shown${more}; queue: ${c.queued ?? 0} queued, ` +
      `${c.deferred ?? 0} deferred, ${c.sending ?? 0} sending\n`,
  );
}

export async function queueShow(ctx: CommandContext): Promise<void> {
  const id = messageId(positional(ctx, 0, "message id"));
  const detail: {
    message: Record<string, unknown>;
    deliveries: (Delivery & { events: Event[] })[];
  } = await ctx.client.call("GET", `/api/v1/messages/${id}`);
  const m = detail.message;
  const lines = [`Message ${m.id}`];
  for (
    const key of [
      "from_address",
      "to_addresses",
      "cc_addresses",
      "bcc_addresses",
      "subject",
      "priority",
      "send_at",
      "expires_at",
      "idempotency_key",
      "created_at",
      "ingested_at",
      "reject_reason",
      "raw_size",
      "metadata",
    ]
  ) {
    const v = m[key];
    if (v === null || v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    lines.push(`  ${key.padEnd(16)} ${typeof v === "object" ? JSON.stringify(v) : String(v)}`);
  }
  lines.push("", `Deliveries (${detail.deliveries.length}):`);
  for (const d of detail.deliveries) {
    lines.push(
      `  #${d.id} ${d.recipient}  ${d.status}  attempts ${d.attempts}  next ${d.next_attempt_at}`,
    );
    if (d.last_reply) lines.push(`     last reply: ${d.last_reply}`);
    for (const e of d.events) {
      const code = e.code ? ` ${e.code}` : "";
      lines.push(
        `     ${e.at}  ${e.kind.padEnd(9)}${e.mx_host ? ` ${e.mx_host}` : ""}${code}${
          e.reply ? `  ${e.reply.replace(/\s+/g, " ")}` : ""
        }`,
      );
    }
  }
  ctx.out(lines.join("\n") + "\n");
}

export async function queueFlush(ctx: CommandContext): Promise<void> {
  const domain = ctx.positionals[0];
  const r: { rescheduled: number } = domain
    ? await ctx.client.call("POST", `/api/v1/domains/${encodeURIComponent(domain)}/flush`)
    : await ctx.client.call("POST", "/api/v1/flush");
  ctx.out(
    `Flushed: ${r.rescheduled} deferred deliveries${domain ? ` to ${domain}` : ""} are due now\n`,
  );
}

export async function queueRetry(ctx: CommandContext): Promise<void> {
  const id = messageId(positional(ctx, 0, "message id"));
  const r: { retried: number } = await ctx.client.call("POST", `/api/v1/messages/${id}/retry`);
  ctx.out(`Message ${id}: ${r.retried} deliveries will be tried now\n`);
}

export async function queueCancel(ctx: CommandContext): Promise<void> {
  const target = positional(ctx, 0, "message id or ALL");
  if (target !== "ALL") {
    const id = messageId(target);
    const r: { cancelled: number; in_flight: number } = await ctx.client.call(
      "POST",
      `/api/v1/messages/${id}/cancel`,
    );
    const busy = r.in_flight ? `; ${r.in_flight} on the wire will finish` : "";
    ctx.out(`Message ${id}: ${r.cancelled} deliveries cancelled${busy}\n`);
    return;
  }
  await cancelAll(ctx);
}

/** `queue cancel ALL`: a dry run for the total, then batches with progress. */
async function cancelAll(ctx: CommandContext): Promise<void> {
  const filter: Record<string, unknown> = {};
  const status = flag(ctx, "status");
  if (status) filter.status = status.split(",");
  for (const f of ["domain", "recipient"]) {
    const v = flag(ctx, f);
    if (v) filter[f] = v;
  }
  const all = Object.keys(filter).length === 0;
  const batch = intFlag(ctx, "batch", 1000);
  const dry: { matched: number; maxId: number | null } = await ctx.client.call(
    "POST",
    "/api/v1/bulk/cancel",
    { ...filter, all, dryRun: true },
  );
  if (dry.matched === 0 || dry.maxId === null) {
    ctx.out("Nothing to cancel\n");
    return;
  }
  let done = 0;
  // Each call cancels up to `batch` rows of the set frozen at the dry run; the loop ends when
  // the server says so, bounded by the count (plus slack for rows skipped while locked).
  const maxCalls = Math.ceil(dry.matched / batch) + 10;
  for (let i = 0; i < maxCalls; i++) {
    const r: { affected: number; done: boolean } = await ctx.client.call(
      "POST",
      "/api/v1/bulk/cancel",
      { ...filter, all, maxId: dry.maxId, limit: batch },
    );
    done += r.affected;
    const pct = Math.min(100, Math.floor((done * 100) / dry.matched));
    ctx.progress(`cancelled ${done}/${dry.matched} (${pct}%)`);
    if (r.done || r.affected === 0) break;
  }
  ctx.out(`Cancelled ${done} deliveries\n`);
  if (done < dry.matched) {
    ctx.out(`${dry.matched - done} were not: they were sent or being sent meanwhile\n`);
  }
}
