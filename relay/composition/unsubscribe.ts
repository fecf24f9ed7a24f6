/**
 * One-click unsubscribe wired: the token key, the header fields the message source adds to
 * each copy of a row that asks for them, and the public listener (`FERRY_PUBLIC_LISTEN`), a
 * server of its own that serves the unsubscribe route and nothing else.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import type { Db } from "../../db/client.ts";
import type { Config } from "../config/config.ts";
import type { UnsubscribeFields } from "../adapters/message_source.ts";
import {
  applyMailtoUnsubscribe,
  mailtoAddress,
  publicApp,
  unsubscribeHeaders,
  type UnsubscribeLogger,
  UnsubscribeTokens,
} from "../unsubscribe/mod.ts";
import { serveOrFail } from "./startup_error.ts";

export interface OneClickUnsubscribe {
  /**
   * For bounce processing: applies a mail sent to a `mailto:` unsubscribe address; absent
   * without a `bounce` section (the fields then carry the https link only).
   */
  readonly mailbox?: (message: Uint8Array) => Promise<"handled" | "other">;
  /** For the message source: the fields of one recipient's copy. */
  readonly fields: UnsubscribeFields;
  readonly tokens: UnsubscribeTokens;
  /** The public listener's address once bound; absent without `FERRY_PUBLIC_LISTEN`. */
  readonly listening?: { readonly hostname: string; readonly port: number };
  /** Resolves once the public listener has closed (at once without one). */
  readonly done: Promise<void>;
}

export function oneClickUnsubscribe(
  deps: {
    readonly config: Config;
    readonly db: Db;
    readonly clock: Clock;
    readonly logger: UnsubscribeLogger;
    readonly instance: string;
  },
  signal: AbortSignal,
): OneClickUnsubscribe | undefined {
  const u = deps.config.unsubscribe;
  if (!u) return undefined;
  const tokens = new UnsubscribeTokens(u.secret, u.tokenLifetime, deps.clock);
  const applying = {
    db: deps.db,
    tokens,
    clock: deps.clock,
    logger: deps.logger,
    instance: deps.instance,
  };
  // The bounce mailbox is the one mailbox Ferry reads: a mailto: link goes there (RFC 2369).
  const verp = deps.config.bounce?.verp;
  const at = verp ? { prefix: verp.prefix, domain: verp.domain } : undefined;
  const fields = unsubscribeHeaders({
    tokens,
    publicUrl: u.publicUrl,
    ...(at ? { mailto: (c) => mailtoAddress(tokens, at, c.deliveryId) } : {}),
  });
  const mailbox = at
    ? { mailbox: (message: Uint8Array) => applyMailtoUnsubscribe(applying, at, message) }
    : {};
  const listen = deps.config.publicListen;
  if (!listen) return { fields, tokens, ...mailbox, done: Promise.resolve() };
  const app = publicApp({ ...applying, publicUrl: u.publicUrl, maxBodySize: u.maxBodySize });
  const server = serveOrFail("FERRY_PUBLIC_LISTEN", listen, signal, app.fetch);
  const addr = server.addr as Deno.NetAddr;
  return {
    fields,
    tokens,
    ...mailbox,
    listening: { hostname: addr.hostname, port: addr.port },
    done: server.finished,
  };
}
