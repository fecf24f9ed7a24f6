/**
 * Per-sender limits made real: which limit a claimed delivery falls under (its message's tenant
 * tag, else its From domain), and the actors' `SenderBudgetStore` over PostgreSQL
 * (db/sender_budgets.ts), so every instance on the database spends one shared budget per sender.
 *
 * The sender domain is the domain of the message's `from_address`, which is also the envelope
 * sender (MAIL FROM) unless VERP return paths are on; with VERP every message's MAIL FROM is the
 * bounce domain, which would put all applications under one limit, so the From domain is the one
 * that tells applications apart either way.
 *
 * @module
 */
import { RATE_MARGIN } from "../../actors/create_actor.ts";
import type { Rate } from "../../actors/rate_budget.ts";
import {
  type ReservedRange,
  type SenderBudgetOptions,
  SenderBudgets,
  type SenderBudgetStore,
  type SenderLimit,
} from "../../actors/sender_budgets.ts";
import type { Db } from "../../db/client.ts";
import { reserveSenderBudget } from "../../db/sender_budgets.ts";
import { parseMailbox } from "../../lib/message/address.ts";

/** The prefix of a `senders` key that names a tenant rather than a sender domain. */
export const TENANT_PREFIX = "tenant:";

/**
 * The `senders` key a message falls under: `tenant:<tag>` when its tenant tag has an entry, else
 * its From domain when that has one; undefined when neither does (no sender limit).
 */
export function senderKeyOf(
  keys: ReadonlySet<string>,
  fromAddress: string | null,
  tenant: string | null,
): string | undefined {
  if (tenant !== null && keys.has(TENANT_PREFIX + tenant)) return TENANT_PREFIX + tenant;
  if (fromAddress === null) return undefined;
  const from = parseMailbox(fromAddress);
  if (!from.ok) return undefined;
  return keys.has(from.mailbox.domain) ? from.mailbox.domain : undefined;
}

/** The shared budgets of every sender, in `ferry.sender_budgets`. */
export function pgSenderBudgets(db: Db): SenderBudgetStore {
  return {
    reserve: (key: string, rates: readonly Rate[], cells: number, now: number) =>
      reserveSenderBudget(db, key, rates, cells, now) as Promise<readonly ReservedRange[]>,
  };
}

/** The `senders` section as the relay uses it: the keys, and the budgets every actor shares. */
export interface SenderLimitsSetup {
  readonly keys: ReadonlySet<string>;
  readonly budgets: SenderBudgets;
}

/**
 * The shared budgets of the configured senders over `store`, each rate widened by the relay's
 * margin like the destinations' (actors/create_actor.ts `RATE_MARGIN`); undefined without any.
 */
export function senderLimits(
  senders: Readonly<
    Record<string, { readonly rate?: readonly Rate[]; readonly maxConnections?: number }>
  >,
  store: SenderBudgetStore,
  options: SenderBudgetOptions = {},
): SenderLimitsSetup | undefined {
  const limits: Record<string, SenderLimit> = {};
  for (const [key, l] of Object.entries(senders)) {
    limits[key] = {
      rates: (l.rate ?? []).map((r) => ({ ...r, perMs: r.perMs * RATE_MARGIN })),
      configured: l.rate ?? [],
      ...(l.maxConnections !== undefined ? { maxConnections: l.maxConnections } : {}),
    };
  }
  const keys = new Set(Object.keys(limits));
  if (keys.size === 0) return undefined;
  return { keys, budgets: new SenderBudgets(limits, store, options) };
}
