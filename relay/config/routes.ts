/**
 * Static routes: the `routes` array of the config file and the `FERRY_ROUTES` short form, joined
 * into one list. A route sends the mail of a pattern (`example.com`, `*.example.com`, `*`) to one
 * host instead of its MX, and says how to reach that host: plain SMTP under the destination's TLS
 * policy (the default), STARTTLS or implicit TLS (RFC 8314) with the certificate checked, and
 * SMTP AUTH credentials for a smarthost.
 *
 * ```json
 * "routes": [
 *   {
 *     "pattern": "*",
 *     "host": "smtp.example.net",
 *     "port": 587,
 *     "tls": "starttls",
 *     "auth": { "username": "ferry@example.org", "passwordFile": "/run/secrets/smarthost" }
 *   }
 * ]
 * ```
 *
 * Credentials travel over TLS only: `auth` without `tls` is refused at load. Passwords come out
 * as {@link Secret}s, so printing or logging the config never shows them. `FERRY_ROUTES` holds
 * no secrets: `pattern=host:port`, optionally followed by `/starttls` or `/implicit`.
 *
 * @module
 */
import { isIP } from "node:net";
import { z } from "zod";
import { Secret } from "../../lib/secret.ts";
import { durationSchema } from "../../lib/unit_schemas.ts";
import { ConfigError } from "./config_error.ts";

/** How a route's connection is encrypted, when the route says so. */
export type RouteTls = "starttls" | "implicit";

/** SMTP AUTH credentials of a route (RFC 4954). */
export interface RouteAuth {
  readonly username: string;
  readonly password: Secret;
  /** Force a mechanism; by default PLAIN when the host offers it, else LOGIN. */
  readonly mechanism?: "PLAIN" | "LOGIN";
}

/** One static route, whichever way it was given. */
export interface Route {
  /** `example.com`, `*.example.com` (names below it) or `*` (everything else), lower-case. */
  readonly pattern: string;
  /** Host name (lower-case) or IP address (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
  /**
   * `starttls`: STARTTLS required; `implicit`: TLS from the first byte. Absent: the
   * destination's TLS policy (`domains`), as for an MX host.
   */
  readonly tls?: RouteTls;
  /**
   * With `tls`: whether the certificate must chain to a trusted CA and name the host (the
   * `verified` policy) or only encrypt (`required`). Absent without `tls`.
   */
  readonly verify?: boolean;
  readonly auth?: RouteAuth;
}

/** The implicit-TLS submission port (RFC 8314 §3.3): a route to it without `tls` means implicit. */
export const SUBMISSIONS_PORT = 465;

const PATTERN =
  /^(\*|(\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)$/;
const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

const patternSchema = z.string().transform((raw, ctx) => {
  const pattern = raw.trim().toLowerCase().replace(/\.$/, "");
  if (!PATTERN.test(pattern)) {
    ctx.addIssue({
      code: "custom",
      message: `must be a domain, '*.suffix' or '*': got ${JSON.stringify(raw)}`,
    });
    return z.NEVER;
  }
  return pattern;
});

const hostSchema = z.string().transform((raw, ctx) => {
  const host = raw.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (isIP(host) === 0 && !HOSTNAME.test(host)) {
    ctx.addIssue({
      code: "custom",
      message: `must be a host name or an IP address: got ${JSON.stringify(raw)}`,
    });
    return z.NEVER;
  }
  return host;
});

const authSchema = z.strictObject({
  username: z.string().min(1),
  /** The password itself; or `passwordFile`, read at start. */
  password: z.string().min(1).transform((s) => new Secret(s)).optional(),
  passwordFile: z.string().min(1).optional(),
  mechanism: z.enum(["PLAIN", "LOGIN"]).optional(),
}).superRefine((a, ctx) => {
  if ((a.password === undefined) === (a.passwordFile === undefined)) {
    ctx.addIssue({ code: "custom", message: "set exactly one of password and passwordFile" });
  }
});

/** What a route says besides its pattern: shared by `routes` entries and the fallback relay. */
const routeFields = {
  host: hostSchema,
  /** Default: 465 with `tls: "implicit"`, else 25. */
  port: z.number().int().min(1).max(65535).optional(),
  tls: z.enum(["starttls", "implicit"]).optional(),
  /** With `tls`; default true. */
  verify: z.boolean().optional(),
  auth: authSchema.optional(),
};

type RouteFields = z.output<z.ZodObject<typeof routeFields>>;

function checkRouteTls(r: RouteFields, ctx: z.RefinementCtx): void {
  const tls = r.tls ?? (r.port === SUBMISSIONS_PORT ? "implicit" : undefined);
  if (r.auth && tls === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["auth"],
      message: `credentials are only sent over TLS: set "tls" to "starttls" or "implicit"`,
    });
  }
  if (r.verify !== undefined && tls === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["verify"],
      message: `only applies to a TLS route: set "tls" to "starttls" or "implicit"`,
    });
  }
}

const routeSchema = z.strictObject({ pattern: patternSchema, ...routeFields }).superRefine(
  checkRouteTls,
);

/**
 * `delivery.fallbackRelay`: a route without a pattern, plus `after`, how long mail must have
 * waited (from its queueing) while every MX host of its destination failed before it goes
 * through this host instead.
 */
export const fallbackRelaySchema = z.strictObject({
  ...routeFields,
  after: durationSchema(),
}).superRefine(checkRouteTls);

/** The fallback relay made whole: a route (pattern `*`) and the wait in milliseconds. */
export interface FallbackRelay {
  readonly route: Route;
  readonly afterMs: number;
}

/** Fills in the fallback relay's defaults and reads its password file, as for a route. */
export function resolveFallbackRelay(
  relay: z.output<typeof fallbackRelaySchema>,
  readFile: (path: string) => string,
): FallbackRelay {
  const { after, ...fields } = relay;
  return {
    route: resolveRoute(
      { pattern: "*", ...fields },
      "FERRY_CONFIG key delivery.fallbackRelay",
      readFile,
    ),
    afterMs: after,
  };
}

/** The `routes` array of the config file. */
export const routesSchema = z.array(routeSchema).superRefine((routes, ctx) => {
  const seen = new Map<string, number>();
  routes.forEach((r, i) => {
    const first = seen.get(r.pattern);
    if (first === undefined) seen.set(r.pattern, i);
    else {
      ctx.addIssue({
        code: "custom",
        path: [i, "pattern"],
        message: `'${r.pattern}' is already routed by routes.${first}`,
      });
    }
  });
}).prefault([]);

/** A route as the file states it: the password may still be a file to read. */
export type FileRoute = z.output<typeof routeSchema>;

/**
 * The file's routes made whole: defaults filled in, password files read. Throws a
 * {@link ConfigError} naming the key (`FERRY_CONFIG key routes.0.auth.passwordFile`).
 */
export function resolveFileRoutes(
  routes: readonly FileRoute[],
  readFile: (path: string) => string,
): Route[] {
  return routes.map((r, i) => resolveRoute(r, `FERRY_CONFIG key routes.${i}`, readFile));
}

function resolveRoute(
  r: FileRoute,
  key: string,
  readFile: (path: string) => string,
): Route {
  const tls = r.tls ?? (r.port === SUBMISSIONS_PORT ? "implicit" : undefined);
  const port = r.port ?? (tls === "implicit" ? SUBMISSIONS_PORT : 25);
  return {
    pattern: r.pattern,
    host: r.host,
    port,
    ...(tls ? { tls, verify: r.verify ?? true } : {}),
    ...(r.auth ? { auth: resolveAuth(r.auth, `${key}.auth`, readFile) } : {}),
  };
}

function resolveAuth(
  auth: NonNullable<FileRoute["auth"]>,
  key: string,
  readFile: (path: string) => string,
): RouteAuth {
  let password = auth.password;
  if (password === undefined) {
    let text: string;
    try {
      text = readFile(auth.passwordFile!);
    } catch (err) {
      throw new ConfigError(
        `${key}.passwordFile`,
        `cannot read ${auth.passwordFile}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    // Secret files are usually written with a final newline (echo, editors): it is not part of
    // the password. Anything else, spaces included, is.
    text = text.replace(/\r?\n$/, "");
    if (text === "") throw new ConfigError(`${key}.passwordFile`, `${auth.passwordFile} is empty`);
    password = new Secret(text);
  }
  return {
    username: auth.username,
    password,
    ...(auth.mechanism ? { mechanism: auth.mechanism } : {}),
  };
}

/**
 * Parses `FERRY_ROUTES`: comma-separated `pattern=host:port`, each optionally followed by
 * `/starttls` or `/implicit` (port 465 alone means implicit). A TLS route is verified. Throws a
 * {@link ConfigError} keyed `FERRY_ROUTES`.
 */
export function parseEnvRoutes(value: string): Route[] {
  const routes: Route[] = [];
  const seen = new Set<string>();
  for (const entry of value.split(",").map((s) => s.trim()).filter(Boolean)) {
    const eq = entry.indexOf("=");
    const pattern = eq > 0 ? entry.slice(0, eq).trim().toLowerCase().replace(/\.$/, "") : "";
    if (!pattern || !/^(\*|(\*\.)?[a-z0-9.-]+)$/.test(pattern)) {
      throw new ConfigError(
        "FERRY_ROUTES",
        `entry ${JSON.stringify(entry)} must look like domain=host:port`,
      );
    }
    let target = entry.slice(eq + 1).trim();
    let tls: RouteTls | undefined;
    const suffix = /\/([A-Za-z]+)$/.exec(target);
    if (suffix) {
      const word = suffix[1]!.toLowerCase();
      if (word !== "starttls" && word !== "implicit") {
        throw new ConfigError(
          "FERRY_ROUTES",
          `entry ${JSON.stringify(entry)} ends in /${suffix[1]}: only /starttls and /implicit ` +
            `may follow the port`,
        );
      }
      tls = word;
      target = target.slice(0, suffix.index).trim();
    }
    const { hostname, port } = parseHostPort("FERRY_ROUTES", target);
    tls ??= port === SUBMISSIONS_PORT ? "implicit" : undefined;
    if (seen.has(pattern)) {
      throw new ConfigError(
        "FERRY_ROUTES",
        `entry ${JSON.stringify(entry)}: '${pattern}' is routed twice`,
      );
    }
    seen.add(pattern);
    routes.push({ pattern, host: hostname, port, ...(tls ? { tls, verify: true } : {}) });
  }
  return routes;
}

/**
 * The file's routes and `FERRY_ROUTES` together. A pattern routed in both places is an error
 * naming both, rather than one silently winning.
 */
export function joinRoutes(file: readonly Route[], env: readonly Route[]): Route[] {
  for (const e of env) {
    const i = file.findIndex((f) => f.pattern === e.pattern);
    if (i >= 0) {
      throw new ConfigError(
        `FERRY_ROUTES and FERRY_CONFIG key routes.${i}.pattern`,
        `'${e.pattern}' is routed in both: keep it in one place`,
      );
    }
  }
  return [...file, ...env];
}

/** `host:port`, the host a name, an IPv4 address or a bracketed IPv6 address. */
export function parseHostPort(key: string, value: string): { hostname: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port > 0 && port < 65536)) {
    throw new ConfigError(
      key,
      `expected host:port (e.g. 127.0.0.1:8787): got ${JSON.stringify(value)}`,
    );
  }
  return { hostname: m[1]!.replace(/^\[|\]$/g, ""), port };
}
