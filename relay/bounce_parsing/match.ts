/**
 * Tying a report back to the delivery that caused it: first a VERP address that verifies, then
 * the original message's Message-ID.
 *
 * @module
 */
import type { Fields } from "./fields.ts";
import type { MatchKeys } from "./outcome.ts";
import { decodeVerp, type VerpKey } from "./verp.ts";

const ADDRESS = /[^\s<>()@,;:"\[\]]+@[^\s<>()@,;:"\[\]]+/g;

/** Where each kind of evidence was found. Earlier entries of each list are trusted first. */
export interface MatchEvidence {
  /**
   * Header and field values that may hold our VERP address: the report's Delivered-To,
   * X-Original-To and To (it was sent to our envelope sender), Postfix's X-Postfix-Sender, ARF's
   * Original-Mail-From, and the original message's Return-Path.
   */
  readonly addressValues: readonly string[];
  /** Header blocks of the original message (message/rfc822, text/rfc822-headers, text copy). */
  readonly originals: readonly Fields[];
  /** The report's own In-Reply-To and References values. */
  readonly inReplyTo?: string;
  readonly references?: string;
}

/** Finds the VERP id and the original Message-ID. */
export function matchKeys(evidence: MatchEvidence, verp: VerpKey | undefined): MatchKeys {
  const verpId = verp ? findVerpId(evidence.addressValues, verp) : undefined;
  const originalMessageId = evidence.originals.map((f) => messageId(f.get("message-id")))
    .find((id) => id !== undefined) ??
    messageId(evidence.inReplyTo) ??
    messageIds(evidence.references).at(-1);
  return {
    ...(verpId === undefined ? {} : { verpId }),
    ...(originalMessageId === undefined ? {} : { originalMessageId }),
  };
}

/** The first address among `values` that decodes as our VERP with a valid tag. */
export function findVerpId(values: readonly string[], verp: VerpKey): string | undefined {
  for (const value of values) {
    for (const address of value.match(ADDRESS) ?? []) {
      const id = decodeVerp(address, verp);
      if (id !== undefined) return id;
    }
  }
  return undefined;
}

/** The first `<...>` msg-id in a header value (RFC 5322 §3.6.4), brackets kept. */
export function messageId(value: string | undefined): string | undefined {
  return messageIds(value)[0];
}

function messageIds(value: string | undefined): string[] {
  return value?.match(/<[^<>\s]+>/g) ?? [];
}
