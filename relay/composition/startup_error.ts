/**
 * A resource the relay cannot start without (the admin listener, the data directory, the config
 * file): reported as one line naming the setting, exit code 1, no stack trace.
 *
 * @module
 */
export class StartupError extends Error {
  override readonly name = "StartupError";
  constructor(readonly setting: string, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * `Deno.serve` on the address of `setting` (`FERRY_ADMIN_LISTEN`, `FERRY_PUBLIC_LISTEN`); an
 * address that cannot be bound is a {@link StartupError} naming the setting.
 */
export function serveOrFail(
  setting: string,
  listen: { readonly hostname: string; readonly port: number },
  signal: AbortSignal,
  fetch: (req: Request) => Response | Promise<Response>,
  onListen: (addr: { hostname: string; port: number }) => void = () => {},
): Deno.HttpServer {
  try {
    return Deno.serve({ hostname: listen.hostname, port: listen.port, signal, onListen }, fetch);
  } catch (err) {
    throw new StartupError(
      setting,
      `${setting} ${listen.hostname}:${listen.port} cannot be used: ${
        err instanceof Deno.errors.AddrInUse ? "address already in use" : (err as Error).message
      }`,
      { cause: err },
    );
  }
}
