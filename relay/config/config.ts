/**
 * Configuration: the environment variables listed in the README plus an optional JSON file
 * (`FERRY_CONFIG`), validated by one strict Zod schema: unknown keys are rejected, durations are
 * written `"30s"`, rates `"100/m"`. Every problem is reported with the variable or key it
 * concerns; nothing starts on a bad value. Every key is documented in docs/configuration.md.
 *
 * @module
 */
import { isIP } from "node:net";
import { z } from "zod";
import { durationSchema, rateSchema } from "../../lib/unit_schemas.ts";
import { bounceConfigSchema } from "../bounce_processing/mod.ts";
import { webhooksSchema } from "../webhooks/mod.ts";
import { alertsSchema } from "../metrics/mod.ts";
import { tlsReportsSchema } from "../tls_rpt/mod.ts";
import { type UnsubscribeConfig, unsubscribeSchema } from "../unsubscribe/mod.ts";
import { Secret } from "../../lib/secret.ts";
import { ConfigError } from "./config_error.ts";
import {
  type FallbackRelay,
  fallbackRelaySchema,
  joinRoutes,
  parseEnvRoutes,
  parseHostPort,
  resolveFallbackRelay,
  resolveFileRoutes,
  type Route,
  routesSchema,
} from "./routes.ts";

export { ConfigError };
export type { FallbackRelay, Route, RouteAuth, RouteTls } from "./routes.ts";

/** A duration in milliseconds (see lib/unit_schemas.ts). */
export const duration = durationSchema();
/** A rate (see lib/unit_schemas.ts). */
export const rate = rateSchema;

const queueSchema = z.strictObject({
  /** Lifetime of a mail without expires_at. */
  maxLifetime: duration.prefault("5d"),
  /** Largest message accepted, in bytes. */
  maxMessageSize: z.number().int().positive().default(25 * 1024 * 1024),
  maxRecipients: z.number().int().positive().default(1000),
  /**
   * Outbox rows per ingestion batch. Under load each batch's round trips wait behind a busy event
   * loop, so small batches make ingestion, not delivery, set the pace (tests/bench/relay_bench.ts).
   */
  ingestBatch: z.number().int().positive().max(10_000).default(2000),
  /** Adaptive polling: the shortest and longest idle wait between outbox polls. */
  pollMin: duration.prefault("5ms"),
  pollMax: duration.prefault("50ms"),
  /** Also LISTEN for a NOTIFY from a statement-level trigger (see README: costs app commits). */
  notify: z.boolean().default(false),
  /** Lease on claimed deliveries; a crashed instance's claims come back after it. */
  leaseDuration: duration.prefault("2m"),
  /** Finished deliveries and events older than this are purged. */
  retention: duration.prefault("30d"),
}).prefault({});

const retrySchema = z.strictObject({
  first: duration.optional(),
  factor: z.number().min(1).optional(),
  max: duration.optional(),
  jitter: z.number().min(0).max(0.99).optional(),
});

/**
 * A rate a budget enforces: `"100/m"` spaces sends evenly (burst 1), `{ "rate": "100/m", "burst":
 * 20 }` lets up to 20 go back to back after a quiet spell; any window of the period then sees at
 * most count + burst - 1.
 */
const budgetRate = z.preprocess(
  // One schema for both forms, so a mistake is reported at its key rather than as "no form fits".
  (v) => typeof v === "string" ? { rate: v } : v,
  z.strictObject({ rate, burst: z.number().int().positive().optional() }),
).transform(({ rate, burst }) => burst === undefined ? rate : { ...rate, burst });

/**
 * A local address outgoing SMTP connections bind to, and the EHLO name sent from it: receivers
 * check that the EHLO name and the address's reverse DNS agree, so each address brings its own.
 */
const sourceAddressSchema = z.strictObject({
  address: z.string().refine((s) => isIP(s) !== 0, "expected an IPv4 or IPv6 address"),
  ehlo: z.string().regex(
    /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/,
    "expected a host name",
  ).optional(),
});

export type SourceAddress = z.output<typeof sourceAddressSchema>;

const sourceAddressesSchema = z.array(sourceAddressSchema).min(1, "list at least one address");

/** A per-domain policy override (actors/policy.ts `DomainPolicyOverride`); every key optional. */
const domainPolicySchema = z.strictObject({
  /** Not an actor policy: taken out into `domainSourceAddresses` (see fileSchema). */
  sourceAddresses: sourceAddressesSchema.optional(),
  maxConnections: z.number().int().positive().max(1000).optional(),
  initialConnections: z.number().int().positive().optional(),
  messagesPerConnection: z.number().int().positive().optional(),
  idleTimeout: duration.optional(),
  connectionRate: budgetRate.nullable().optional(),
  rates: z.array(budgetRate).optional(),
  tls: z.enum(["opportunistic", "required", "verified", "disabled"]).optional(),
  retry: retrySchema.optional(),
  maxRecipientsPerTransaction: z.number().int().positive().max(1000).optional(),
  mxRollup: z.boolean().optional(),
}).transform(({ idleTimeout, ...rest }) => ({
  ...rest,
  ...(idleTimeout !== undefined ? { idleTimeoutMs: idleTimeout } : {}),
}));

/**
 * A `senders` key: a sender domain (the domain of a message's `from_address`, lower-case) or
 * `tenant:<name>` (a message whose `metadata` tenant tag is `<name>`).
 */
const senderKeySchema = z.string().refine(
  (k) =>
    k.startsWith("tenant:")
      ? k.length > "tenant:".length
      : /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(k),
  'expected a lower-case sender domain ("mail.example.com") or "tenant:<name>"',
);

/** One sender's limits: rates (one or a list, as for destinations) and a transaction cap. */
const senderLimitSchema = z.strictObject({
  rate: z.preprocess(
    (v) => Array.isArray(v) ? v : [v],
    z.array(budgetRate).min(1, "list at least one rate"),
  ).optional(),
  /** Transactions of this sender in flight at once (per instance), across all destinations. */
  maxConnections: z.number().int().positive().max(100_000).optional(),
}).refine((l) => l.rate !== undefined || l.maxConnections !== undefined, {
  message: "set rate and/or maxConnections",
}).refine(
  (l) => new Set((l.rate ?? []).map((r) => `${r.count}/${r.perMs}`)).size === (l.rate ?? []).length,
  { message: "list each rate once", path: ["rate"] },
);

const deliverySchema = z.strictObject({
  /** Lease on a destination shared by instances; a dead instance's destinations move after it. */
  domainLease: duration.prefault("15s"),
  /** Most destinations (actors) one instance serves at once. */
  maxActors: z.number().int().positive().default(500),
  /** On SIGTERM, how long in-flight SMTP transactions may take before they are cut. */
  drainTimeout: duration.prefault("30s"),
  /** Most connections to one receiving host (address and port) across all destinations. */
  maxConnectionsPerHost: z.number().int().positive().default(20),
  /** How long an address that bounced as unknown stays suppressed; null: for good. */
  suppressFor: duration.nullable().prefault("180d"),
  /** PEM file of extra trusted CAs for the `verified` TLS policy. */
  caFile: z.string().optional(),
  /**
   * Where mail goes once every MX host of its destination has failed for longer than `after`
   * (relay/config/routes.ts); absent: it waits for its MX hosts until it expires.
   */
  fallbackRelay: fallbackRelaySchema.optional(),
  /**
   * Honour the MTA-STS policies (RFC 8461) of recipient domains reached by MX: look up
   * `_mta-sts.<domain>`, fetch and cache the policy, and under `enforce` send only to the MX
   * hosts it lists, over verified TLS.
   */
  mtaSts: z.boolean().default(true),
  /**
   * DANE for SMTP (RFC 7672): DNS queries ask for DNSSEC (the DO bit), and where a trusted
   * validating resolver says an MX answer and the host's TLSA records are authentic (the AD
   * bit), those records decide how the MX host's certificate is checked. The AD bit is trusted
   * only from loopback name servers (a local validating resolver) and from `trustedResolvers`.
   */
  dane: z.boolean().default(true),
  /** Name servers (IP addresses) besides loopback whose AD bit is trusted. */
  trustedResolvers: z.array(z.string().refine((s) => isIP(s) !== 0, "expected an IP address"))
    .prefault([]),
  /** Local addresses outgoing connections bind to, in turn; empty: the system's choice. */
  sourceAddresses: z.array(sourceAddressSchema).prefault([]),
  /** The `metadata` key whose (string) value is a message's tenant, for `senders` keys `tenant:<name>`. */
  tenantKey: z.string().min(1).default("tenant"),
}).prefault({});

const dkimKeySchema = z.strictObject({
  domain: z.string().min(1),
  selector: z.string().min(1),
  algorithm: z.enum(["rsa-sha256", "ed25519-sha256"]),
  /** The PEM key itself, or `privateKeyFile` naming a file that holds it. */
  privateKey: z.string().optional(),
  privateKeyFile: z.string().optional(),
  subdomains: z.boolean().optional(),
}).refine((k) => (k.privateKey === undefined) !== (k.privateKeyFile === undefined), {
  message: "set exactly one of privateKey and privateKeyFile",
});

/** The PostgreSQL server back end (DATABASE_URL); the embedded database ignores it. */
const databaseSchema = z.strictObject({
  /**
   * Statements used again and again run as named (prepared) statements, parsed and planned once
   * per connection; false behind PgBouncer in transaction mode before 1.21.
   */
  preparedStatements: z.boolean().default(true),
}).prefault({});

export const fileSchema = z.strictObject({
  database: databaseSchema,
  queue: queueSchema,
  delivery: deliverySchema,
  /** Per-domain policies keyed `domain`, `*.suffix` or `*`. */
  domains: z.record(z.string(), domainPolicySchema).prefault({}),
  /** Per-sender limits keyed by sender domain or `tenant:<name>`, across all destinations. */
  senders: z.record(senderKeySchema, senderLimitSchema).prefault({}),
  dkim: z.array(dkimKeySchema).prefault([]),
  /** The bounce mailbox (POP3) and VERP return paths; absent: no bounce processing, no VERP. */
  bounce: bounceConfigSchema.optional(),
  /** Signed POSTs of delivery events and alerts; absent: no webhooks. */
  webhooks: webhooksSchema.optional(),
  /** Alert thresholds (every one on by default; `null` turns one off). */
  alerts: alertsSchema,
  /** SMTP TLS Reporting (RFC 8460) for the domains mail goes to; absent: none. */
  tlsReports: tlsReportsSchema.optional(),
  /** One-click unsubscribe (RFC 8058) for rows with `list_unsubscribe`; absent: such rows are rejected. */
  unsubscribe: unsubscribeSchema.optional(),
  /** Static routes with their transport: TLS and smarthost credentials (relay/config/routes.ts). */
  routes: routesSchema,
}).transform(({ domains, ...rest }) => {
  // The actors' policies stay free of source addresses (they only matter to the SMTP deliverer,
  // and a merged policy is shown and compared as is); the deliverer gets them by domain key.
  const policies: Record<string, Omit<(typeof domains)[string], "sourceAddresses">> = {};
  const domainSourceAddresses: Record<string, SourceAddress[]> = {};
  for (const [key, { sourceAddresses, ...policy }] of Object.entries(domains)) {
    policies[key] = policy;
    if (sourceAddresses) domainSourceAddresses[key] = sourceAddresses;
  }
  return { ...rest, domains: policies, domainSourceAddresses };
});

export type FileConfig = z.output<typeof fileSchema>;

export interface Config extends Omit<FileConfig, "routes" | "delivery" | "unsubscribe"> {
  /** The file's `delivery`, its fallback relay's password file read. */
  readonly delivery: Omit<FileConfig["delivery"], "fallbackRelay"> & {
    readonly fallbackRelay?: FallbackRelay;
  };
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly admin: { readonly hostname: string; readonly port: number };
  readonly adminToken: string | undefined;
  /** The file's `routes` and `FERRY_ROUTES` together, password files read. */
  readonly routes: readonly Route[];
  readonly hostname: string;
  readonly configPath: string | undefined;
  /** The file's `unsubscribe`, its key read; absent: one-click unsubscribe is off. */
  readonly unsubscribe?: UnsubscribeConfig;
  /** `FERRY_PUBLIC_LISTEN`: where the public unsubscribe listener binds; absent: none. */
  readonly publicListen?: { readonly hostname: string; readonly port: number };
}

/** Reads and validates the whole configuration. Throws {@link ConfigError}. */
export function loadConfig(
  env: Record<string, string | undefined>,
  readFile: (path: string) => string = Deno.readTextFileSync,
  defaultHostname: () => string = Deno.hostname,
): Config {
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError("DATABASE_URL", "must be a postgres:// or postgresql:// URL");
  }
  const admin = parseHostPort("FERRY_ADMIN_LISTEN", env.FERRY_ADMIN_LISTEN || "127.0.0.1:8787");
  const token = env.FERRY_ADMIN_TOKEN || undefined;
  if (token !== undefined && token.length < 16) {
    throw new ConfigError("FERRY_ADMIN_TOKEN", "must be at least 16 characters long");
  }
  const hostname = env.FERRY_HOSTNAME || defaultHostname();
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(hostname)) {
    throw new ConfigError("FERRY_HOSTNAME", `${JSON.stringify(hostname)} is not a valid host name`);
  }
  const configPath = env.FERRY_CONFIG || undefined;
  let file: FileConfig;
  try {
    file = parseFileConfig(configPath === undefined ? "{}" : readFile(configPath), configPath);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError("FERRY_CONFIG", `cannot read ${configPath}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const dkim = file.dkim.map((k, i) => {
    if (k.privateKey !== undefined) return k;
    try {
      return { ...k, privateKey: readFile(k.privateKeyFile!) };
    } catch (err) {
      throw new ConfigError(
        `FERRY_CONFIG key dkim.${i}.privateKeyFile`,
        `cannot read ${k.privateKeyFile}`,
        { cause: err },
      );
    }
  });
  const routes = joinRoutes(
    resolveFileRoutes(file.routes, readFile),
    parseRoutes(env.FERRY_ROUTES ?? ""),
  );
  const { fallbackRelay, ...delivery } = file.delivery;
  const unsubscribe = resolveUnsubscribe(file.unsubscribe, readFile);
  const publicListen = env.FERRY_PUBLIC_LISTEN
    ? parseHostPort("FERRY_PUBLIC_LISTEN", env.FERRY_PUBLIC_LISTEN)
    : undefined;
  if (publicListen && !unsubscribe) {
    throw new ConfigError(
      "FERRY_PUBLIC_LISTEN",
      "serves one-click unsubscribe only: set the FERRY_CONFIG section unsubscribe " +
        "(publicUrl and secret or secretFile) too",
    );
  }
  const { unsubscribe: _section, ...rest } = file;
  return {
    ...rest,
    ...(unsubscribe ? { unsubscribe } : {}),
    ...(publicListen ? { publicListen } : {}),
    delivery: {
      ...delivery,
      ...(fallbackRelay ? { fallbackRelay: resolveFallbackRelay(fallbackRelay, readFile) } : {}),
    },
    dkim,
    databaseUrl,
    dataDir: env.FERRY_DATA_DIR || "./.ferry",
    admin,
    adminToken: token,
    routes,
    hostname,
    configPath,
  };
}

/** The `unsubscribe` section with its key file read (a final newline is not part of the key). */
function resolveUnsubscribe(
  section: FileConfig["unsubscribe"],
  readFile: (path: string) => string,
): UnsubscribeConfig | undefined {
  if (!section) return undefined;
  const { publicUrl, tokenLifetime, maxBodySize } = section;
  if (section.secret) return { publicUrl, tokenLifetime, maxBodySize, secret: section.secret };
  const key = "FERRY_CONFIG key unsubscribe.secretFile";
  let text: string;
  try {
    text = readFile(section.secretFile!).replace(/\r?\n$/, "");
  } catch (err) {
    throw new ConfigError(key, `cannot read ${section.secretFile}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (text.length < 32) {
    throw new ConfigError(key, `${section.secretFile} must hold at least 32 characters`);
  }
  return { publicUrl, tokenLifetime, maxBodySize, secret: new Secret(text) };
}

/** Validates the JSON config file's text. */
export function parseFileConfig(text: string, path = "FERRY_CONFIG"): FileConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, `not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join(".") || "(root)";
    const keys = issue.code === "unrecognized_keys" ? ` (${issue.keys.join(", ")})` : "";
    // A record key that failed its own schema: its message, not zod's "Invalid key in record".
    const message = issue.code === "invalid_key"
      ? issue.issues[0]?.message ?? issue.message
      : issue.message;
    throw new ConfigError(`${path} key ${key}`, `${message}${keys}`);
  }
  return parsed.data;
}

/**
 * Parses `FERRY_ROUTES`: `domain=host:port,*.suffix=host:port,*=host:port`, each optionally
 * followed by `/starttls` or `/implicit` (port 465 alone means implicit).
 */
export function parseRoutes(value: string): Route[] {
  return parseEnvRoutes(value);
}
