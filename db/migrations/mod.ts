/**
 * Every migration, listed statically in order. A migration's SQL runs in one transaction; its
 * version is recorded in `ferry.schema_migrations` in the same transaction. Never edit a
 * migration that has shipped: add a new one.
 *
 * @module
 */
import { up as initial } from "./0001_initial.ts";
import { up as webhooks } from "./0002_webhooks.ts";
import { up as bounces } from "./0003_bounces.ts";
import { up as attachments } from "./0004_attachments.ts";
import { up as mtaSts } from "./0005_mta_sts.ts";
import { up as requireTls } from "./0006_require_tls.ts";
import { up as tlsRpt } from "./0007_tls_rpt.ts";
import { up as tlsDetail } from "./0008_tls_detail.ts";
import { up as apiKeys } from "./0009_api_keys.ts";
import { up as budgets } from "./0010_budgets.ts";
import { up as unsubscribe } from "./0011_unsubscribe.ts";
import { up as senderBudgets } from "./0012_sender_budgets.ts";

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly up: string;
}

export const migrations: readonly Migration[] = [
  { version: 1, name: "initial", up: initial },
  { version: 2, name: "webhooks", up: webhooks },
  { version: 3, name: "bounces", up: bounces },
  { version: 4, name: "attachments", up: attachments },
  { version: 5, name: "mta_sts", up: mtaSts },
  { version: 6, name: "require_tls", up: requireTls },
  { version: 7, name: "tls_rpt", up: tlsRpt },
  { version: 8, name: "tls_detail", up: tlsDetail },
  { version: 9, name: "api_keys", up: apiKeys },
  { version: 10, name: "budgets", up: budgets },
  { version: 11, name: "unsubscribe", up: unsubscribe },
  { version: 12, name: "sender_budgets", up: senderBudgets },
];
