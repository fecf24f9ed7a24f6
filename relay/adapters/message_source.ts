/**
 * Messages ready for the wire: the outbox row composed into RFC 5322 bytes (relay/mime) and
 * DKIM-signed (relay/dkim), once per message, cached while its recipients are being sent, so
 * a message to 50 destinations is composed and signed once, and a retry sends the same bytes
 * (same Message-ID).
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import { composeMessage, messageIdFor } from "../mime/mod.ts";
import { canonicalLineEnds } from "../mime/mod.ts";
import { cleanRawMessage, rawMessageProblem } from "../mime/mod.ts";
import { parseMailbox } from "../../lib/message/address.ts";
import type { DkimSigner } from "../dkim/mod.ts";
import type { MessageRow } from "../../db/messages.ts";

export type ReadyMessage =
  | {
    readonly kind: "ready";
    readonly bytes: Uint8Array;
    readonly sender: string;
    /** REQUIRETLS (RFC 8689): only over verified TLS to a peer that announces it, else bounce. */
    readonly requireTls: boolean;
  }
  | { readonly kind: "invalid"; readonly reason: string };

export interface MessageSourceOptions {
  readonly load: (outboxId: number) => Promise<MessageRow | undefined>;
  readonly clock: Clock;
  /** Domain of generated Message-IDs (FERRY_HOSTNAME). */
  readonly messageIdDomain: string;
  readonly signer?: DkimSigner;
  /** Messages kept composed; the oldest goes first. */
  readonly maxEntries?: number;
}

export class MessageSource {
  readonly #cache = new Map<number, Promise<ReadyMessage>>();
  constructor(readonly options: MessageSourceOptions) {}

  get(outboxId: number): Promise<ReadyMessage> {
    const hit = this.#cache.get(outboxId);
    if (hit) {
      // Map order is insertion order: re-insert to mark as recently used.
      this.#cache.delete(outboxId);
      this.#cache.set(outboxId, hit);
      return hit;
    }
    const made = this.#make(outboxId);
    this.#cache.set(outboxId, made);
    // A failure to read is not cached: the next attempt tries again.
    made.catch(() => this.#cache.delete(outboxId));
    const max = this.options.maxEntries ?? 512;
    while (this.#cache.size > max) this.#cache.delete(this.#cache.keys().next().value!);
    return made;
  }

  async #make(outboxId: number): Promise<ReadyMessage> {
    const row = await this.options.load(outboxId);
    if (!row) return { kind: "invalid", reason: `outbox row ${outboxId} no longer exists` };
    const from = parseMailbox(row.fromAddress);
    if (!from.ok) return { kind: "invalid", reason: `invalid from_address: ${from.reason}` };
    const createdAt = row.createdAt == null ? this.options.clock.now() : +row.createdAt;
    let raw = row.raw;
    if (raw) {
      raw = canonicalLineEnds(raw);
      const problem = rawMessageProblem(raw);
      if (problem) return { kind: "invalid", reason: problem };
      raw = cleanRawMessage(raw, {
        messageId: messageIdFor(row.id, createdAt, this.options.messageIdDomain),
        date: new Date(createdAt),
      });
    }
    const composed = await composeMessage({
      id: row.id,
      from: row.fromAddress,
      to: row.to,
      cc: row.cc,
      bcc: row.bcc,
      replyTo: row.replyTo,
      subject: row.subject,
      text: row.text,
      html: row.html,
      headers: row.headers,
      raw,
      attachments: row.attachments,
      createdAt: row.createdAt,
    }, { messageIdDomain: this.options.messageIdDomain, clock: this.options.clock });
    if (composed.kind === "invalid") return composed;
    // Signed as it will be sent: the DATA encoder has no line end left to change.
    let bytes = canonicalLineEnds(composed.message.bytes);
    if (this.options.signer) {
      const signed = await this.options.signer.sign(bytes);
      bytes = signed.message;
    }
    return {
      kind: "ready",
      bytes,
      sender: from.mailbox.address,
      requireTls: row.requireTls === true,
    };
  }
}
