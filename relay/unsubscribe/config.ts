/**
 * The `unsubscribe` section of `FERRY_CONFIG`: one-click unsubscribe (RFC 8058) for outbox rows
 * that ask for it (`list_unsubscribe`). Mount it as `unsubscribe: unsubscribeSchema.optional()`.
 *
 * ```json
 * "unsubscribe": {
 *   "publicUrl": "https://mail.example.com",
 *   "secretFile": "/run/secrets/ferry-unsubscribe",
 *   "tokenLifetime": "90d"
 * }
 * ```
 *
 * The listener itself is `FERRY_PUBLIC_LISTEN` (off by default): the public URL reaches it
 * through whatever reverse proxy terminates TLS.
 *
 * @module
 */
import { z } from "zod";
import { Secret } from "../../lib/secret.ts";
import { durationSchema } from "../../lib/unit_schemas.ts";

/** Host names an `http:` public URL may name: only a test on the same machine. */
const LOOPBACK = new Set(["127.0.0.1", "[::1]", "localhost"]);

export const unsubscribeSchema = z.strictObject({
  /**
   * Base URL of the public listener as recipients' mail providers reach it; tokens go under
   * `<publicUrl>/u/`. RFC 8058 §3.1 requires HTTPS; `http:` only to a loopback host.
   */
  publicUrl: z.url({ protocol: /^https?$/ }).refine((u) => {
    const url = new URL(u);
    return url.protocol === "https:" || LOOPBACK.has(url.hostname);
  }, "must be an https:// URL (http:// only for a loopback host)").refine((u) => {
    const url = new URL(u);
    return url.search === "" && url.hash === "" && url.username === "" && url.password === "";
  }, "must not have a query, fragment or credentials"),
  /** HMAC-SHA256 key of the tokens, shared by every instance; at least 32 characters. */
  secret: z.string().min(32).transform((s) => new Secret(s)).optional(),
  /** A file holding the key instead (read at start; a final newline is dropped). */
  secretFile: z.string().min(1).optional(),
  /** How long after the message was created its tokens are honoured. */
  tokenLifetime: durationSchema(60_000).prefault("90d"),
  /** Largest request body the listener reads, in bytes. */
  maxBodySize: z.number().int().min(64).max(65_536).default(4096),
}).refine((c) => (c.secret === undefined) !== (c.secretFile === undefined), {
  message: "set exactly one of secret and secretFile",
});

export type UnsubscribeConfigInput = z.input<typeof unsubscribeSchema>;
/** As validated, before `secretFile` is read (relay/config does that). */
export type UnsubscribeFileConfig = z.output<typeof unsubscribeSchema>;

/** The section as the relay uses it: the key read. */
export interface UnsubscribeConfig {
  readonly publicUrl: string;
  readonly secret: Secret;
  readonly tokenLifetime: number;
  readonly maxBodySize: number;
}
