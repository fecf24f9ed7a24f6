/**
 * The `Ferry-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, the
 * scheme Stripe made familiar. The timestamp is signed too, so a captured request cannot be
 * replayed later than the receiver's tolerance.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "Ferry-Signature";

/** The header value for `body` sent at `unixSeconds`. */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${hmacHex(secret, `${unixSeconds}.${body}`)}`;
}

function hmacHex(secret: string, text: string): string {
  return createHmac("sha256", secret).update(text).digest("hex");
}

export type SignatureCheck =
  | { readonly kind: "valid"; readonly timestamp: number }
  | { readonly kind: "invalid"; readonly reason: string };

/**
 * What a receiver does: parses the header, recomputes the HMAC over the raw body and compares
 * in constant time, then checks the timestamp is within `toleranceSeconds` of `nowSeconds`.
 */
export function verifyWebhookSignature(
  header: string | null | undefined,
  body: string,
  secret: string,
  o: { readonly nowSeconds: number; readonly toleranceSeconds?: number },
): SignatureCheck {
  if (!header) return { kind: "invalid", reason: "no signature header" };
  const fields = new Map<string, string[]>();
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    fields.set(key, [...(fields.get(key) ?? []), part.slice(eq + 1).trim()]);
  }
  const t = Number(fields.get("t")?.[0]);
  if (!Number.isInteger(t)) return { kind: "invalid", reason: "no timestamp" };
  const expected = Buffer.from(hmacHex(secret, `${t}.${body}`), "hex");
  // Several v1 values are allowed, so a secret can be rotated without downtime.
  const match = (fields.get("v1") ?? []).some((v) => {
    const got = Buffer.from(v, "hex");
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
  if (!match) return { kind: "invalid", reason: "signature mismatch" };
  const tolerance = o.toleranceSeconds ?? 300;
  if (Math.abs(o.nowSeconds - t) > tolerance) {
    return { kind: "invalid", reason: `timestamp outside the tolerance of ${tolerance} s` };
  }
  return { kind: "valid", timestamp: t };
}
