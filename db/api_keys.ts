/**
 * Admin API keys in `ferry.api_keys` (migration 0009): issue, find by id, list, revoke, note a
 * use. Only the SHA-256 of a key's secret reaches this table; making tokens and checking them is
 * the admin API's business (relay/admin/auth.ts).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Db } from "./client.ts";
import type { ApiKeyScope } from "./schema.ts";

/** A key as lists show it: everything but the hash. */
export interface ApiKeyInfo {
  readonly name: string;
  readonly scopes: readonly ApiKeyScope[];
  /** `fy_<id>`: the start of the key's token, enough to tell which key a token is. */
  readonly prefix: string;
  readonly created_at: Date;
  readonly revoked_at: Date | null;
  readonly last_used_at: Date | null;
}

/** A key as authentication reads it. */
export interface StoredApiKey extends ApiKeyInfo {
  readonly id: string;
  /** SHA-256 of the secret. */
  readonly hash: Uint8Array;
}

export interface NewApiKey {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly ApiKeyScope[];
  readonly hash: Uint8Array;
  readonly prefix: string;
  readonly now: Date;
}

const INFO = ["name", "scopes", "prefix", "created_at", "revoked_at", "last_used_at"] as const;

/**
 * Inserts a key; `name-taken` when a key, revoked or not, already has the name (a name stays
 * with one key for good, so the audit trail never mixes two).
 */
export async function insertApiKey(
  db: Db,
  k: NewApiKey,
): Promise<
  { readonly kind: "created"; readonly key: ApiKeyInfo } | { readonly kind: "name-taken" }
> {
  const key = await db.insertInto("ferry.api_keys")
    .values({
      id: k.id,
      name: k.name,
      scopes: [...k.scopes],
      // node-postgres sends a Buffer as bytea; a bare Uint8Array would go as an array.
      hash: Buffer.from(k.hash),
      prefix: k.prefix,
      created_at: k.now,
    })
    .onConflict((oc) => oc.column("name").doNothing())
    .returning(INFO).executeTakeFirst();
  return key ? { kind: "created", key } : { kind: "name-taken" };
}

/** The key with this id, revoked or not. */
export async function findApiKey(db: Db, id: string): Promise<StoredApiKey | undefined> {
  const r = await db.selectFrom("ferry.api_keys").select(["id", "hash", ...INFO])
    .where("id", "=", id).executeTakeFirst();
  return r ? { ...r, hash: new Uint8Array(r.hash) } : undefined;
}

/** Every key, by name, revoked ones included. */
export async function listApiKeys(db: Db): Promise<ApiKeyInfo[]> {
  return await db.selectFrom("ferry.api_keys").select(INFO).orderBy("name").execute();
}

export type RevokeResult =
  | { readonly kind: "revoked"; readonly key: ApiKeyInfo }
  /** Revoked before: nothing changed, `revoked_at` is the first revocation's. */
  | { readonly kind: "already"; readonly key: ApiKeyInfo }
  | { readonly kind: "unknown" };

/** Revokes the key named `name`: from now on its token is refused. */
export async function revokeApiKey(db: Db, name: string, now: Date): Promise<RevokeResult> {
  const key = await db.updateTable("ferry.api_keys").set({ revoked_at: now })
    .where("name", "=", name).where("revoked_at", "is", null)
    .returning(INFO).executeTakeFirst();
  if (key) return { kind: "revoked", key };
  const before = await db.selectFrom("ferry.api_keys").select(INFO)
    .where("name", "=", name).executeTakeFirst();
  return before ? { kind: "already", key: before } : { kind: "unknown" };
}

/**
 * Notes that key `id` was used at `now`, unless a use at or after `since` is noted already:
 * one write per key and interval, however many requests it makes.
 */
export async function touchApiKey(db: Db, id: string, now: Date, since: Date): Promise<void> {
  await db.updateTable("ferry.api_keys").set({ last_used_at: now })
    .where("id", "=", id)
    .where((eb) => eb.or([eb("last_used_at", "is", null), eb("last_used_at", "<", since)]))
    .execute();
}
