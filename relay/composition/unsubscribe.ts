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
  publicApp,
  unsubscribeHeaders,
  type UnsubscribeLogger,
  UnsubscribeTokens,
} from "../unsubscribe/mod.ts";
import { StartupError } from "./startup_error.ts";

export interface OneClickUnsubscribe {
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
  const fields = unsubscribeHeaders({ tokens, publicUrl: u.publicUrl });
  const listen = deps.config.publicListen;
  if (!listen) return { fields, tokens, done: Promise.resolve() };
  const app = publicApp({
    db: deps.db,
    tokens,
    clock: deps.clock,
    logger: deps.logger,
    instance: deps.instance,
    publicUrl: u.publicUrl,
    maxBodySize: u.maxBodySize,
  });
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname: listen.hostname,
      port: listen.port,
      signal,
      onListen: () => {},
    }, app.fetch);
  } catch (err) {
    throw new StartupError(
      "FERRY_PUBLIC_LISTEN",
      `FERRY_PUBLIC_LISTEN ${listen.hostname}:${listen.port} cannot be used: ${
        err instanceof Deno.errors.AddrInUse ? "address already in use" : (err as Error).message
      }`,
      { cause: err },
    );
  }
  const addr = server.addr as Deno.NetAddr;
  return {
    fields,
    tokens,
    listening: { hostname: addr.hostname, port: addr.port },
    done: server.finished,
  };
}
