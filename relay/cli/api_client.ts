/**
 * The CLI's view of the admin API: one JSON request at a time, every failure turned into a
 * readable message with the exit code it deserves.
 *
 * @module
 */

/** Something the operator must read; `exitCode` is what the process returns. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(message: string, readonly exitCode: number = 1) {
    super(message);
  }
}

export interface AdminClient {
  readonly baseUrl: string;
  /** The parsed JSON body of a 2xx answer; a {@link CliError} otherwise. */
  call<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T>;
}

export function adminClient(
  baseUrl: string,
  token: string | undefined,
  doFetch: typeof fetch,
): AdminClient {
  const base = baseUrl.replace(/\/+$/, "");
  return {
    baseUrl: base,
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      let res: Response;
      try {
        res = await doFetch(`${base}${path}`, {
          method,
          headers: {
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (err) {
        throw new CliError(
          `cannot reach the admin API at ${base} (${(err as Error).message}); ` +
            `is the relay running? Set FERRY_ADMIN_URL to its address.`,
        );
      }
      const text = await res.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : {};
      } catch {
        throw new CliError(
          `${method} ${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`,
        );
      }
      if (res.status === 401) {
        // The server's reason when it has one to give (a revoked key), else the usual advice.
        const reason = (json as { error?: string }).error;
        const why = reason && /revoked/.test(reason) ? ` (${reason})` : "";
        throw new CliError(
          token
            ? `the admin API refused the token${why}: check FERRY_ADMIN_TOKEN`
            : "the admin API needs a token: set FERRY_ADMIN_TOKEN",
        );
      }
      if (!res.ok) {
        const error = (json as { error?: string }).error ?? `HTTP ${res.status}`;
        throw new CliError(`${error} (HTTP ${res.status})`);
      }
      return json as T;
    },
  };
}
