/**
 * The `mailto:` form of one-click unsubscribe (RFC 2369 §3.2, offered after the https link): an
 * address in the bounce mailbox's VERP domain, `<prefix>+unsub-<deliveryId>-<tag>@<domain>`,
 * which bounce processing reads over POP3. The https token does not fit a local part (at most
 * 64 octets, RFC 5321 §4.5.3.1.1), so the address carries only the delivery id and a tag:
 * HMAC-SHA256 of the id under the unsubscribe key, truncated to 20 lower-case hex digits (80
 * bits), lower-case so that MTAs folding the local part's case do not break it. The recipient
 * and sender domain are then read from the delivery.
 *
 * @module
 */
import { constantTimeEqual } from "./token.ts";
import type { UnsubscribeTokens } from "./token.ts";

/** Where the mailbox's mail is addressed: the `bounce.verp` prefix and domain. */
export interface MailtoDomain {
  readonly prefix: string;
  readonly domain: string;
}

const TAG_LENGTH = 20;

/** The address a mail that unsubscribes `deliveryId` goes to. */
export async function mailtoAddress(
  tokens: UnsubscribeTokens,
  at: MailtoDomain,
  deliveryId: number,
): Promise<string> {
  const tag = await tokens.mailtoTag(deliveryId);
  return `${at.prefix}+unsub-${deliveryId}-${tag.slice(0, TAG_LENGTH)}@${at.domain}`;
}

/** What a mail in the bounce mailbox asks for, read from its header. */
export type MailtoRequest =
  /** Not addressed to an unsubscribe address: a bounce or anything else. */
  | { readonly kind: "other" }
  /** Addressed to one, but its tag does not verify. */
  | { readonly kind: "forged"; readonly reason: string }
  | { readonly kind: "unsubscribe"; readonly deliveryId: number };

/** Fields that carry the address a mail was sent to, by the sender's client or the MTA. */
const ADDRESS_FIELDS = new Set(["to", "cc", "delivered-to", "x-original-to", "envelope-to"]);

/** Whether the mail is addressed to an unsubscribe address of `at`, and for which delivery. */
export async function mailtoRequest(
  tokens: UnsubscribeTokens,
  at: MailtoDomain,
  message: Uint8Array,
): Promise<MailtoRequest> {
  const pattern = new RegExp(
    `(?:^|[\\s<,:])${escape(at.prefix.toLowerCase())}\\+unsub-(\\d{1,15})-([0-9a-z]+)@` +
      `${escape(at.domain.toLowerCase())}(?=$|[\\s>,;])`,
  );
  for (const value of addressFieldValues(message)) {
    const m = pattern.exec(value.toLowerCase());
    if (!m) continue;
    const deliveryId = Number(m[1]);
    const expected = (await tokens.mailtoTag(deliveryId)).slice(0, TAG_LENGTH);
    const enc = new TextEncoder();
    if (!constantTimeEqual(enc.encode(m[2]!), enc.encode(expected))) {
      return { kind: "forged", reason: "the address's tag does not match" };
    }
    return { kind: "unsubscribe", deliveryId };
  }
  return { kind: "other" };
}

/** The unfolded values of the header's address fields (the header ends at the first blank line). */
function addressFieldValues(message: Uint8Array): string[] {
  // Only the header is needed; 64 KiB is more than any header block worth reading.
  const text = new TextDecoder("latin1").decode(message.subarray(0, 65_536));
  const end = text.search(/\r?\n\r?\n/);
  const header = (end < 0 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, " ");
  const out: string[] = [];
  for (const line of header.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0 && ADDRESS_FIELDS.has(line.slice(0, colon).trim().toLowerCase())) {
      out.push(line.slice(colon + 1));
    }
  }
  return out;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
