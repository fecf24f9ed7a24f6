/**
 * TLS policy for outbound SMTP and the pure decision of whether to send STARTTLS.
 *
 * - `opportunistic` (default): STARTTLS when offered, unverified (RFC 7435 §3); plaintext when it
 *   is not offered, when the peer refuses it (RFC 3207 §4), or when the peer is remembered as
 *   having a broken handshake (see {@link ./broken_peers.ts}).
 * - `required`: TLS or nothing, certificate not verified (Postfix's `encrypt` level).
 * - `verified`: TLS or nothing, chain and host name verified (Postfix's `secure`, RFC 6125).
 * - `disabled`: never STARTTLS, e.g. for a peer known to mishandle it.
 *
 * @module
 */

/** One of the four TLS policies. */
export type TlsPolicy = "opportunistic" | "required" | "verified" | "disabled";

/** Every policy, for validation (e.g. a Zod enum in the config). */
export const TLS_POLICIES: readonly TlsPolicy[] = [
  "opportunistic",
  "required",
  "verified",
  "disabled",
];

/** What to do after EHLO. */
export type TlsDecision =
  | { readonly kind: "starttls"; readonly verify: boolean }
  | {
    readonly kind: "plaintext";
    readonly reason: "disabled" | "not-offered" | "remembered-broken";
  }
  | { readonly kind: "refuse"; readonly reason: "not-offered" };

/** Whether a policy forbids falling back to plaintext. */
export function tlsRequired(policy: TlsPolicy): boolean {
  return policy === "required" || policy === "verified";
}

/**
 * Decides STARTTLS from the policy, whether the peer offered it in EHLO, and whether its
 * handshake is remembered as broken. Only `opportunistic` lets a remembered failure skip TLS:
 * a policy that requires TLS tries again (and fails again, visibly) instead of downgrading.
 */
export function decideTls(
  policy: TlsPolicy,
  peer: { readonly offered: boolean; readonly rememberedBroken: boolean },
): TlsDecision {
  if (policy === "disabled") return { kind: "plaintext", reason: "disabled" };
  if (!peer.offered) {
    return tlsRequired(policy)
      ? { kind: "refuse", reason: "not-offered" }
      : { kind: "plaintext", reason: "not-offered" };
  }
  if (policy === "opportunistic" && peer.rememberedBroken) {
    return { kind: "plaintext", reason: "remembered-broken" };
  }
  return { kind: "starttls", verify: policy === "verified" };
}
