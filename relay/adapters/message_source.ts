/**
 * Messages ready for the wire: the outbox row composed into RFC 5322 bytes (relay/mime) and
 * DKIM-signed (relay/dkim), once per message, cached while its recipients are being sent, so
 * a message to 50 destinations is composed and signed once, and a retry sends the same bytes
 * (same Message-ID).
 *
 * A row asking for one-click unsubscribe (RFC 8058) is the exception: each recipient's copy
 * carries its own token in `List-Unsubscribe`, so the composed message is kept unsigned and each
 * copy gets its two fields and its own DKIM signature, which covers them (RFC 8058 §4). Only
 * such rows pay for a signature per recipient.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import { composeMessage, messageIdFor } from "../mime/mod.ts";
import { canonicalLineEnds } from "../mime/mod.ts";
import { cleanRawMessage, headerValues, prependHeader, rawMessageProblem } from "../mime/mod.ts";
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
    /**
     * Set when each recipient's copy differs (one-click unsubscribe): its bytes, signed, are
     * what goes to that recipient, and `bytes` (unsigned, without the fields) is not sent.
     */
    readonly forRecipient?: (delivery: RecipientOf) => Promise<Uint8Array>;
  }
  | { readonly kind: "invalid"; readonly reason: string };

/** Which recipient's copy: the delivery (its token names it). */
export interface RecipientOf {
  readonly id: number;
  readonly recipient: string;
}

/** What a one-click unsubscribe token says (relay/unsubscribe makes it). */
export interface UnsubscribeTarget {
  readonly deliveryId: number;
  readonly outboxId: number;
  readonly recipient: string;
  /** The From domain: the scope of the suppression the token makes. */
  readonly senderDomain: string;
  /** Seconds since the epoch: the message's creation, so a retry sends the same token. */
  readonly issuedAt: number;
}

/** The header fields one recipient's copy gets (List-Unsubscribe, List-Unsubscribe-Post). */
export type UnsubscribeFields = (
  target: UnsubscribeTarget,
) => Promise<readonly { readonly name: string; readonly value: string }[]>;

export interface MessageSourceOptions {
  readonly load: (outboxId: number) => Promise<MessageRow | undefined>;
  readonly clock: Clock;
  /** Domain of generated Message-IDs (FERRY_HOSTNAME). */
  readonly messageIdDomain: string;
  readonly signer?: DkimSigner;
  /** One-click unsubscribe; absent: a row asking for it is not sent (ingestion rejects it). */
  readonly listUnsubscribe?: UnsubscribeFields;
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
    if (row.listUnsubscribe === true) {
      return this.#perRecipient(row, bytes, from.mailbox.address, from.mailbox.domain, createdAt);
    }
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

  #perRecipient(
    row: MessageRow,
    unsigned: Uint8Array,
    sender: string,
    senderDomain: string,
    createdAt: number,
  ): ReadyMessage {
    const fields = this.options.listUnsubscribe;
    if (!fields) {
      return {
        kind: "invalid",
        reason: "list_unsubscribe is set but one-click unsubscribe is not configured",
      };
    }
    // A raw message carries its own header block: it must not bring a second target.
    const own = ownUnsubscribeField(unsigned);
    if (own) return { kind: "invalid", reason: own };
    const signer = this.options.signer;
    const forRecipient = async (delivery: RecipientOf): Promise<Uint8Array> => {
      let bytes = unsigned;
      const made = await fields({
        deliveryId: delivery.id,
        outboxId: row.id,
        recipient: delivery.recipient,
        senderDomain,
        issuedAt: Math.floor(createdAt / 1000),
      });
      for (const f of [...made].reverse()) bytes = prependHeader(bytes, f.name, f.value);
      return signer ? (await signer.sign(bytes)).message : bytes;
    };
    return {
      kind: "ready",
      bytes: unsigned,
      sender,
      requireTls: row.requireTls === true,
      forRecipient,
    };
  }
}

/**
 * Why a raw message may not go out as a `list_unsubscribe` row: it has its own
 * List-Unsubscribe(-Post) field (checked at ingestion, and again before sending).
 */
export function ownUnsubscribeField(raw: Uint8Array): string | undefined {
  const own = ["List-Unsubscribe", "List-Unsubscribe-Post"]
    .find((name) => headerValues(raw, name.toLowerCase()).length > 0);
  return own
    ? `list_unsubscribe cannot be combined with a ${own} field in raw_message: ` +
      "Ferry writes List-Unsubscribe and List-Unsubscribe-Post itself for this row"
    : undefined;
}
