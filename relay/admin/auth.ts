/**
 * Who is calling `/api/*`: the bootstrap token (`FERRY_ADMIN_TOKEN`, acting as an `admin` key
 * named `bootstrap`) or an API key, and what that caller may do.
 *
 * A key's token is `fy_<id>_<secret>`: 16 hex digits of id, then 32 random bytes in base64url.
 * The id finds the row; the secret's SHA-256 is compared with the stored one in constant time.
 * The secret is never kept: the caller sees the token once, at creation.
 *
 * @module
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { findApiKey, touchApiKey } from "../../db/api_keys.ts";
import type { Db } from "../../db/client.ts";
import type { ApiKeyScope } from "../../db/schema.ts";

/** The name `FERRY_ADMIN_TOKEN` acts under in the audit trail; no key may take it. */
export const BOOTSTRAP_NAME = "bootstrap";

/** A key's `last_used_at` is written again only when this much older (a write per minute at most). */
export const LAST_USED_INTERVAL_MS = 60_000;

/** An authenticated caller. */
export interface Principal {
  /** The key's name, or {@link BOOTSTRAP_NAME}. */
  readonly name: string;
  readonly scopes: readonly ApiKeyScope[];
}

/** Whether `p` may call a route needing `scope`: `admin` may call every route. */
export function allows(p: Principal, scope: ApiKeyScope): boolean {
  return p.scopes.includes("admin") || p.scopes.includes(scope);
}

const key = randomBytes(32);

function mac(s: string): Uint8Array {
  return createHmac("sha256", key).update(s).digest();
}

/**
 * True when `header` is exactly `Bearer <token>`, in constant time: comparing HMACs of both sides
 * under a per-process key makes the comparison independent of where the strings first differ,
 * and of their lengths.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const presented = bearerOf(header);
  return timingSafeEqual(mac(presented), mac(token)) && presented.length > 0;
}

function bearerOf(header: string | undefined): string {
  return header?.startsWith("Bearer ") ? header.slice(7) : "";
}

/** A new key's parts. `token` goes to the caller once; only `hash` and `prefix` are stored. */
export interface MintedKey {
  readonly id: string;
  readonly token: string;
  readonly hash: Uint8Array;
  readonly prefix: string;
}

export function mintApiKey(): MintedKey {
  const id = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { id, token: `fy_${id}_${secret}`, hash: hashSecret(secret), prefix: `fy_${id}` };
}

const TOKEN = /^fy_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** The id and secret of a key's token; undefined when `token` has not that shape. */
export function parseApiKeyToken(
  token: string,
): { readonly id: string; readonly secret: string } | undefined {
  const m = TOKEN.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

export function hashSecret(secret: string): Uint8Array {
  return createHash("sha256").update(secret).digest();
}

// Compared against when the id is unknown, so that case costs the same hash and comparison.
const NO_KEY = new Uint8Array(32);

export type AuthResult =
  | { readonly kind: "ok"; readonly principal: Principal }
  | { readonly kind: "denied"; readonly error: string };

/**
 * The caller behind an `Authorization` header. A wrong or unknown token and a missing one get the
 * same answer; a revoked key is named as such only to a caller who holds its secret.
 */
export async function authenticate(
  db: Db,
  header: string | undefined,
  bootstrapToken: string,
  now: Date,
): Promise<AuthResult> {
  if (bearerMatches(header, bootstrapToken)) {
    return { kind: "ok", principal: { name: BOOTSTRAP_NAME, scopes: ["admin"] } };
  }
  const denied = { kind: "denied", error: "missing or wrong bearer token" } as const;
  const parts = parseApiKeyToken(bearerOf(header));
  if (!parts) return denied;
  const stored = await findApiKey(db, parts.id);
  const expected = stored?.hash.length === 32 ? stored.hash : NO_KEY;
  const matches = timingSafeEqual(hashSecret(parts.secret), expected) && stored !== undefined;
  if (!matches) return denied;
  if (stored.revoked_at !== null) {
    return { kind: "denied", error: `API key '${stored.name}' was revoked` };
  }
  const since = new Date(now.getTime() - LAST_USED_INTERVAL_MS);
  if (stored.last_used_at === null || new Date(stored.last_used_at) < since) {
    await touchApiKey(db, stored.id, now, since);
  }
  return { kind: "ok", principal: { name: stored.name, scopes: stored.scopes } };
}
