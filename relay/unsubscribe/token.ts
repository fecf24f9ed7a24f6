/**
 * One-click unsubscribe tokens (RFC 8058): what a URL must carry to unsubscribe one recipient
 * from one sender domain's mail, signed with HMAC-SHA256 so that nobody without the key can make
 * or alter one. A token is `<payload>.<mac>`, both base64url (RFC 4648 §5) without padding; the
 * payload is the JSON array `[1, deliveryId, outboxId, recipient, senderDomain, issuedAt]`
 * (`issuedAt` in seconds since the epoch). The MAC covers a version label and the payload's
 * text exactly as sent, so any change to a field, or a token made with another key, fails.
 *
 * The key is shared by every instance on one database (the `unsubscribe.secret` setting), so
 * whichever instance serves the POST can check a token another one wrote into a message.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import type { Secret } from "../../lib/secret.ts";

/** What a token says; the verifier trusts it only once the MAC matched. */
export interface UnsubscribeClaims {
  readonly deliveryId: number;
  readonly outboxId: number;
  /** The recipient address, lower-case. */
  readonly recipient: string;
  /** The From domain of the message (A-label, lower-case): the suppression's scope. */
  readonly senderDomain: string;
  /** Seconds since the epoch. */
  readonly issuedAt: number;
}

export type TokenCheck =
  | { readonly ok: true; readonly claims: UnsubscribeClaims }
  | {
    readonly ok: false;
    /** `malformed`: not a token at all; `forged`: the MAC does not match; `expired`: too old. */
    readonly problem: "malformed" | "forged" | "expired";
    readonly reason: string;
  };

/** Tokens are short: a bound that keeps garbage input from costing anything. */
export const MAX_TOKEN_LENGTH = 1024;

const LABEL = "ferry-unsubscribe-v1\n";
const MAILTO_LABEL = "ferry-unsubscribe-mailto-v1\n";
const encoder = new TextEncoder();

/** HMAC-SHA256 with one key: makes and checks tokens. */
export class UnsubscribeTokens {
  readonly #key: Promise<CryptoKey>;

  /** `lifetimeMs`: how long after `issuedAt` a token is accepted. */
  constructor(secret: Secret, readonly lifetimeMs: number, readonly clock: Clock) {
    if (!(lifetimeMs > 0)) {
      throw new RangeError(
        `Cannot make unsubscribe tokens as 'lifetimeMs' must be > 0: current value is ${lifetimeMs}`,
      );
    }
    this.#key = crypto.subtle.importKey(
      "raw",
      encoder.encode(secret.reveal()),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
  }

  async sign(claims: UnsubscribeClaims): Promise<string> {
    const payload = base64url(encoder.encode(JSON.stringify([
      1,
      claims.deliveryId,
      claims.outboxId,
      claims.recipient.toLowerCase(),
      claims.senderDomain.toLowerCase(),
      Math.floor(claims.issuedAt),
    ])));
    return `${payload}.${base64url(await this.#mac(payload))}`;
  }

  async verify(token: string): Promise<TokenCheck> {
    const malformed = (reason: string): TokenCheck => ({ ok: false, problem: "malformed", reason });
    if (token.length > MAX_TOKEN_LENGTH) return malformed("the token is too long");
    const parts = token.split(".");
    if (parts.length !== 2) return malformed("a token is <payload>.<signature>");
    const [payload, mac] = parts as [string, string];
    const given = fromBase64url(mac);
    if (!given) return malformed("the signature is not base64url");
    // Checked before the payload is even decoded: a forged token learns nothing more.
    if (!constantTimeEqual(given, await this.#mac(payload))) {
      return { ok: false, problem: "forged", reason: "the signature does not match" };
    }
    const claims = decodeClaims(payload);
    if (!claims) return malformed("the payload is not a version 1 token");
    const age = this.clock.now() - claims.issuedAt * 1000;
    if (age > this.lifetimeMs) {
      return {
        ok: false,
        problem: "expired",
        reason: `the token was issued ${Math.floor(age / 86_400_000)} days ago`,
      };
    }
    return { ok: true, claims };
  }

  /** Hex HMAC of a delivery id for the `mailto:` address (mailto.ts), under its own label. */
  async mailtoTag(deliveryId: number): Promise<string> {
    const signed = await crypto.subtle.sign(
      "HMAC",
      await this.#key,
      encoder.encode(`${MAILTO_LABEL}${deliveryId}`),
    );
    return [...new Uint8Array(signed)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  async #mac(payload: string): Promise<Uint8Array> {
    const signed = await crypto.subtle.sign(
      "HMAC",
      await this.#key,
      encoder.encode(LABEL + payload),
    );
    return new Uint8Array(signed);
  }
}

function decodeClaims(payload: string): UnsubscribeClaims | undefined {
  const bytes = fromBase64url(payload);
  if (!bytes) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value.length !== 6 || value[0] !== 1) return undefined;
  const [, deliveryId, outboxId, recipient, senderDomain, issuedAt] = value;
  if (
    !Number.isSafeInteger(deliveryId) || !Number.isSafeInteger(outboxId) ||
    typeof recipient !== "string" || typeof senderDomain !== "string" ||
    !Number.isSafeInteger(issuedAt)
  ) return undefined;
  return { deliveryId, outboxId, recipient, senderDomain, issuedAt };
}

/** Compares every byte whatever the first difference, so timing tells nothing of the MAC. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
