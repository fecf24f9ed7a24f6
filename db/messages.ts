/**
 * Reading an outbox row's content for sending (the actors compose it once per message and reuse
 * it for every recipient and retry).
 *
 * @module
 */
import type { Selectable } from "kysely";
import type { Db } from "./client.ts";
import type { OutboxTable } from "./schema.ts";
import { anyBigint } from "./sql_fragments.ts";

export interface MessageRow {
  readonly id: number;
  readonly fromAddress: string;
  readonly to: readonly string[];
  readonly cc: readonly string[];
  readonly bcc: readonly string[];
  readonly replyTo: string | null;
  readonly subject: string | null;
  readonly text: string | null;
  readonly html: string | null;
  readonly headers: Record<string, unknown> | null;
  readonly raw: Uint8Array | null;
  /** As stored: checked at ingestion, decoded by the composer. */
  readonly attachments?: unknown;
  /**
   * REQUIRETLS (RFC 8689): send only over verified TLS to a next hop that announces it, else
   * bounce. Absent means false (rows made by hand, as tests do).
   */
  readonly requireTls?: boolean;
  /** One-click unsubscribe (RFC 8058): a token per recipient. Absent means false. */
  readonly listUnsubscribe?: boolean;
  readonly createdAt: Date;
  readonly metadata: Record<string, unknown> | null;
}

/**
 * The outbox columns a message is read with, by `loadMessages` and by a claim that carries its
 * messages' content (db/queue.ts): `toMessageRow` takes exactly these, so a column it starts to
 * read cannot be left out of either.
 */
export const MESSAGE_COLUMNS = [
  "id",
  "from_address",
  "to_addresses",
  "cc_addresses",
  "bcc_addresses",
  "reply_to",
  "subject",
  "text_body",
  "html_body",
  "headers",
  "raw_message",
  "attachments",
  "require_tls",
  "list_unsubscribe",
  "created_at",
  "metadata",
] as const satisfies readonly (keyof OutboxTable)[];

/** An outbox row as read with {@link MESSAGE_COLUMNS}. */
export type MessageColumns = Pick<Selectable<OutboxTable>, typeof MESSAGE_COLUMNS[number]>;

/** The row, or undefined when it is gone (purged). */
export async function loadMessage(db: Db, outboxId: number): Promise<MessageRow | undefined> {
  const r = await db.selectFrom("ferry.outbox").select(MESSAGE_COLUMNS)
    .where("id", "=", outboxId).executeTakeFirst();
  return r ? toMessageRow(r) : undefined;
}

/** Many rows in one statement, by id; ids that are gone are missing from the map. */
export async function loadMessages(
  db: Db,
  outboxIds: readonly number[],
): Promise<Map<number, MessageRow>> {
  if (outboxIds.length === 0) return new Map();
  const rows = await db.selectFrom("ferry.outbox").select(MESSAGE_COLUMNS)
    .where("id", "=", anyBigint(outboxIds)).execute();
  return new Map(rows.map((r) => [Number(r.id), toMessageRow(r)]));
}

/**
 * About how many bytes a row holds in memory (its bodies, raw message and attachments), to
 * bound how much content is kept read ahead of sending.
 */
export function messageRowSize(row: MessageRow): number {
  const attachments = row.attachments == null ? 0 : JSON.stringify(row.attachments).length;
  return 256 + (row.subject?.length ?? 0) + (row.text?.length ?? 0) + (row.html?.length ?? 0) +
    (row.raw?.length ?? 0) + attachments;
}

/** The row as read with {@link MESSAGE_COLUMNS} from `ferry.outbox`. */
export function toMessageRow(r: MessageColumns): MessageRow {
  return {
    id: Number(r.id),
    fromAddress: r.from_address ?? "",
    to: r.to_addresses ?? [],
    cc: r.cc_addresses ?? [],
    bcc: r.bcc_addresses ?? [],
    replyTo: r.reply_to,
    subject: r.subject,
    text: r.text_body,
    html: r.html_body,
    headers: r.headers,
    raw: r.raw_message === null ? null : new Uint8Array(r.raw_message),
    attachments: r.attachments,
    requireTls: r.require_tls === true,
    listUnsubscribe: r.list_unsubscribe === true,
    createdAt: new Date(r.created_at),
    metadata: r.metadata,
  };
}
