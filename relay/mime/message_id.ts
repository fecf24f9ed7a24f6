/**
 * Message-IDs that stay the same across retries (RFC 5322 §3.6.4): derived from the outbox row,
 * never from the clock or a random source, so a message sent twice after a crash is recognised
 * as one by receivers that de-duplicate.
 *
 * The creation time goes into the hash so that ids from a recreated database (where the row
 * numbering starts again at 1) do not collide with earlier mail.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** An outbox row id: an identity bigint, as bigint, number or decimal string. */
export type OutboxId = bigint | number | string;

const ID_TEXT = /^[0-9A-Za-z_-]{1,64}$/;
const DOMAIN =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * `<ferry.{outboxId}.{hash}@{domain}>` where hash is 16 hex digits of
 * SHA-256(outboxId, createdAt, domain). Throws a RangeError for an id or domain that cannot
 * appear in a msg-id (a bug or a configuration error, not a property of the message).
 */
export function messageIdFor(outboxId: OutboxId, createdAtMs: number, domain: string): string {
  const id = idText(outboxId);
  if (!DOMAIN.test(domain)) {
    throw new RangeError(
      `Cannot build a Message-ID as 'domain' must be a DNS name: current value is ${
        JSON.stringify(domain)
      }`,
    );
  }
  return `<ferry.${id}.${digest(id, createdAtMs, domain, "message-id")}@${domain.toLowerCase()}>`;
}

/**
 * A MIME boundary base for the same row: stable across retries (so composing twice gives the
 * same bytes) and, being a hash, not something a body contains by accident.
 */
export function boundaryFor(outboxId: OutboxId, createdAtMs: number, domain: string): string {
  return digest(idText(outboxId), createdAtMs, domain, "boundary");
}

function idText(outboxId: OutboxId): string {
  const id = String(outboxId);
  if (!ID_TEXT.test(id)) {
    throw new RangeError(
      `Cannot build a Message-ID as 'outboxId' must be 1-64 letters, digits, '-' or '_': current value is ${
        JSON.stringify(id)
      }`,
    );
  }
  return id;
}

function digest(id: string, createdAtMs: number, domain: string, purpose: string): string {
  return createHash("sha256")
    .update(`${purpose}\n${id}\n${createdAtMs}\n${domain.toLowerCase()}`)
    .digest("hex")
    .slice(0, 16);
}
