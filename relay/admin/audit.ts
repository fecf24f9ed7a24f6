/**
 * Recording operator actions in the audit trail, under the name of the key that took them.
 *
 * @module
 */
import { type AuditEntry, recordAudit } from "../../db/audit.ts";
import type { Db } from "../../db/client.ts";
import type { Context } from "hono";
import { actorOf } from "./api_route.ts";
import type { AdminContext } from "./deps.ts";

export type AuditedAction = Omit<AuditEntry, "at" | "actor">;

/**
 * Records an action already done. For actions made of several statements (bulk batches), which
 * no one transaction holds; their delivery events carry the actor in the same statements.
 */
export async function audit(
  ctx: AdminContext,
  c: Context,
  action: AuditedAction,
): Promise<void> {
  await recordAudit(ctx.db, { at: ctx.now(), actor: actorOf(c), ...action });
}

/**
 * Runs `act` and records what `entry` makes of its result in one transaction, so the action and
 * its record stand or fall together; `entry` returning undefined records nothing (nothing done).
 */
export async function audited<T>(
  ctx: AdminContext,
  c: Context,
  act: (db: Db) => Promise<T>,
  entry: (result: T) => AuditedAction | undefined,
): Promise<T> {
  const actor = actorOf(c);
  return await ctx.db.transaction().execute(async (tx) => {
    const result = await act(tx);
    const e = entry(result);
    if (e) await recordAudit(tx, { at: ctx.now(), actor, ...e });
    return result;
  });
}
