/**
 * The operator audit trail in `ferry.audit_log` (migration 0009): one row per action taken
 * through the admin API, naming the key that took it. Delivery events an action causes carry
 * the same name in `ferry.events.actor`.
 *
 * @module
 */
import type { Db } from "./client.ts";

/** What operators do, as recorded. */
export const AUDIT_ACTIONS = [
  "cancel",
  "retry",
  "flush",
  "suspend",
  "resume",
  "suppress",
  "unsuppress",
  "key.create",
  "key.revoke",
] as const;
export type AuditAction = typeof AUDIT_ACTIONS[number];

export interface AuditEntry {
  readonly at: Date;
  /** The key's name, `bootstrap` for FERRY_ADMIN_TOKEN. */
  readonly actor: string;
  readonly action: AuditAction;
  /** A message id, a domain, an address, a key name; null when the action has no one target. */
  readonly target: string | null;
  /** Parameters and result: reason, counts, scopes. Never a secret. */
  readonly detail: Record<string, unknown> | null;
}

export interface AuditRow extends AuditEntry {
  readonly id: number;
}

export async function recordAudit(db: Db, e: AuditEntry): Promise<void> {
  await db.insertInto("ferry.audit_log").values({
    at: e.at,
    actor: e.actor,
    action: e.action,
    target: e.target,
    detail: e.detail === null ? null : JSON.stringify(e.detail),
  }).execute();
}

/** One page of the trail, newest first (keyset on id), optionally one actor's or action's. */
export async function listAudit(
  db: Db,
  o: {
    readonly limit: number;
    /** The last id of the previous page. */
    readonly before?: number;
    readonly actor?: string;
    readonly action?: AuditAction;
  },
): Promise<{ rows: AuditRow[]; next: number | null }> {
  const rows = await db.selectFrom("ferry.audit_log")
    .select(["id", "at", "actor", "action", "target", "detail"])
    .$if(o.before !== undefined, (q) => q.where("id", "<", o.before!))
    .$if(o.actor !== undefined, (q) => q.where("actor", "=", o.actor!))
    .$if(o.action !== undefined, (q) => q.where("action", "=", o.action!))
    .orderBy("id", "desc").limit(o.limit + 1).execute();
  const page = rows.slice(0, o.limit).map((r) => ({
    ...r,
    id: Number(r.id),
    action: r.action as AuditAction,
  }));
  return { rows: page, next: rows.length > o.limit ? page.at(-1)!.id : null };
}
