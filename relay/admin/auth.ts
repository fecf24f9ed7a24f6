/**
 * Bearer-token check for `/api/*`, in constant time: comparing HMACs of both sides under a
 * per-process key makes the comparison independent of where the strings first differ, and of
 * their lengths.
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

const key = randomBytes(32);

function mac(s: string): Uint8Array {
  return createHmac("sha256", key).update(s).digest();
}

/** True when `header` is exactly `Bearer <token>`. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const presented = header?.startsWith("Bearer ") ? header.slice(7) : "";
  return timingSafeEqual(mac(presented), mac(token)) && presented.length > 0;
}
