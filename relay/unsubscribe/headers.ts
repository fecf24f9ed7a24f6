/**
 * The header fields of one recipient's copy (RFC 8058 §3.1):
 *
 * ```
 * List-Unsubscribe: <https://mail.example.com/u/TOKEN>
 * List-Unsubscribe-Post: List-Unsubscribe=One-Click
 * ```
 *
 * RFC 2369 §3.2 lets List-Unsubscribe list several URIs, most preferred first; the https one is
 * the only one RFC 8058 acts on, so it comes first, and a `mailto:` to the bounce mailbox
 * follows when one is configured.
 *
 * @module
 */
import type { UnsubscribeClaims, UnsubscribeTokens } from "./token.ts";

export interface UnsubscribeHeaderField {
  readonly name: string;
  readonly value: string;
}

/** The token's address under the public URL. */
export function unsubscribeUrl(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/u/${token}`;
}

/**
 * Makes the two fields for a recipient. `mailto`, when given, is the address a mail with the
 * token may go to instead (relay/bounce_processing reads it).
 */
export function unsubscribeHeaders(o: {
  readonly tokens: UnsubscribeTokens;
  readonly publicUrl: string;
  readonly mailto?: (claims: UnsubscribeClaims) => Promise<string | undefined>;
}): (claims: UnsubscribeClaims) => Promise<readonly UnsubscribeHeaderField[]> {
  return async (claims) => {
    const token = await o.tokens.sign(claims);
    const uris = [`<${unsubscribeUrl(o.publicUrl, token)}>`];
    const mailto = await o.mailto?.(claims);
    if (mailto) uris.push(`<mailto:${mailto}?subject=unsubscribe>`);
    return [
      // Folded between URIs (RFC 5322 §2.2.3) so the field stays readable; DKIM's relaxed
      // header canonicalisation (RFC 6376 §3.4.2) unfolds it before hashing.
      { name: "List-Unsubscribe", value: uris.join(",\r\n ") },
      { name: "List-Unsubscribe-Post", value: "List-Unsubscribe=One-Click" },
    ];
  };
}
