/**
 * Per-destination policy: how many connections, how fast, which TLS, which retry schedule.
 * Resolved once per destination from three layers, later ones winning field by field:
 *
 * 1. {@link DEFAULT_POLICY};
 * 2. the built-in limits of the large mailbox providers ({@link PROVIDERS}), matched by the
 *    domain itself or by the suffix of any of its MX hosts, so a company domain hosted at
 *    Google or Microsoft gets the provider's limits too (KumoMTA's "MX rollup" idea);
 * 3. the operator's overrides from the config file, keyed `*` (everything), `*.suffix` (names
 *    under suffix, not suffix itself: the `FERRY_ROUTES` rule; it also matches MX hosts under
 *    suffix) and `example.com` (exactly that domain). They stack from least to most specific:
 *    `*`, then suffixes from shortest to longest, then the exact domain.
 *
 * Plain TypeScript (actors/ has no dependencies): relay/config/config.ts validates the file with Zod
 * and produces {@link PolicyOverrides}; keys must already be lower-case without a trailing dot.
 *
 * @module
 */
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./backoff.ts";
import type { Rate } from "./rate_budget.ts";

export type TlsPolicy =
  /** STARTTLS when offered, certificate not checked (RFC 7435 opportunistic security). */
  | "opportunistic"
  /** STARTTLS must succeed, certificate not checked: protects against passive listeners. */
  | "required"
  /** STARTTLS must succeed with a certificate valid for the MX host name. */
  | "verified"
  /** Never STARTTLS: for peers whose TLS is broken. */
  | "disabled";

export interface DomainPolicy {
  /** Ceiling of concurrent connections (AIMD's `max`). */
  readonly maxConnections: number;
  /** Connections allowed before AIMD has seen the destination (AIMD's `initial`). */
  readonly initialConnections: number;
  /** Transactions on one connection before it is closed and replaced. */
  readonly messagesPerConnection: number;
  /** An idle connection is closed after this long. */
  readonly idleTimeoutMs: number;
  /** New connections per period; null for no limit. */
  readonly connectionRate: Rate | null;
  /** Message rates, all enforced at once (e.g. per second and per day). */
  readonly rates: readonly Rate[];
  readonly tls: TlsPolicy;
  readonly retry: RetryPolicy;
  /** RCPTs per transaction; RFC 5321 §4.5.3.1.8 obliges servers to accept at least 100. */
  readonly maxRecipientsPerTransaction: number;
  /** Whether destinations sharing the same MX hosts share one actor and one set of limits. */
  readonly mxRollup: boolean;
}

/** One layer: any field may be set; `retry` merges field by field, `rates` replaces the list. */
export type DomainPolicyOverride = {
  readonly [K in keyof DomainPolicy]?: K extends "retry" ? Partial<RetryPolicy> : DomainPolicy[K];
};

/** Keyed `*`, `*.suffix` or `domain` (lower-case, no trailing dot). */
export type PolicyOverrides = Readonly<Record<string, DomainPolicyOverride>>;

export const DEFAULT_POLICY: DomainPolicy = {
  maxConnections: 10,
  initialConnections: 2,
  messagesPerConnection: 100,
  idleTimeoutMs: 60_000,
  connectionRate: null,
  rates: [],
  tls: "opportunistic",
  retry: DEFAULT_RETRY_POLICY,
  maxRecipientsPerTransaction: 100,
  mxRollup: true,
};

export interface Provider {
  readonly name: string;
  /** Matched exactly against the recipient domain. */
  readonly domains: readonly string[];
  /** Matched against MX host names: `google.com` matches `aspmx.l.google.com`. */
  readonly mxSuffixes: readonly string[];
  readonly policy: DomainPolicyOverride;
}

const perSecond = (count: number): Rate => ({ count, perMs: 1_000 });
const perMinute = (count: number): Rate => ({ count, perMs: 60_000 });

/**
 * Built-in limits for the large mailbox providers. None of them publishes hard numbers; these
 * are deliberately conservative starting points drawn from their public postmaster guidance
 * (Google's sender guidelines, Microsoft's SNDS/postmaster pages, Yahoo's sender best
 * practices, Apple's iCloud postmaster page) and from shaping defaults shared by other MTAs'
 * communities, rounded down. A new sending IP is better off slow than deferred; operators with
 * a warmed-up reputation raise them with an override. They all offer STARTTLS, so TLS is
 * required: a downgrade to plaintext towards them is an attack, not an interoperability issue.
 */
export const PROVIDERS: readonly Provider[] = [
  {
    name: "google",
    domains: ["gmail.com", "googlemail.com"],
    mxSuffixes: ["google.com", "googlemail.com"],
    policy: {
      maxConnections: 5,
      messagesPerConnection: 50,
      connectionRate: perMinute(60),
      rates: [perSecond(20)],
      tls: "required",
    },
  },
  {
    name: "microsoft",
    domains: ["outlook.com", "hotmail.com", "live.com", "msn.com"],
    // Consumer (olc), Microsoft 365 tenants, and the DANE-enabled edge (mx.microsoft).
    mxSuffixes: ["olc.protection.outlook.com", "mail.protection.outlook.com", "mx.microsoft"],
    policy: {
      maxConnections: 5,
      messagesPerConnection: 50,
      connectionRate: perMinute(60),
      rates: [perSecond(20)],
      tls: "required",
    },
  },
  {
    name: "yahoo",
    domains: ["yahoo.com", "aol.com", "ymail.com", "rocketmail.com"],
    mxSuffixes: ["yahoodns.net"],
    policy: {
      maxConnections: 5,
      messagesPerConnection: 20,
      connectionRate: perMinute(60),
      rates: [perSecond(10)],
      tls: "required",
    },
  },
  {
    name: "apple",
    domains: ["icloud.com", "me.com", "mac.com"],
    mxSuffixes: ["mail.icloud.com"],
    policy: {
      maxConnections: 5,
      messagesPerConnection: 5,
      connectionRate: perMinute(60),
      rates: [perSecond(5)],
      tls: "required",
    },
  },
  {
    name: "united-internet",
    domains: ["gmx.net", "gmx.de", "gmx.at", "gmx.ch", "gmx.com", "web.de"],
    mxSuffixes: ["gmx.net", "web.de"],
    policy: {
      maxConnections: 3,
      messagesPerConnection: 20,
      connectionRate: perMinute(30),
      rates: [perSecond(5)],
      tls: "required",
    },
  },
  {
    name: "mail.ru",
    domains: ["mail.ru", "inbox.ru", "list.ru", "bk.ru"],
    mxSuffixes: ["mail.ru"],
    policy: {
      maxConnections: 3,
      messagesPerConnection: 20,
      connectionRate: perMinute(30),
      rates: [perSecond(5)],
      tls: "required",
    },
  },
  {
    name: "yandex",
    domains: ["yandex.ru", "yandex.com", "ya.ru"],
    mxSuffixes: ["yandex.ru", "yandex.net"],
    policy: {
      maxConnections: 3,
      messagesPerConnection: 20,
      connectionRate: perMinute(30),
      rates: [perSecond(5)],
      tls: "required",
    },
  },
];

/** The built-in provider for a destination: by its domain first, else by an MX host. */
export function findProvider(
  domain: string,
  mxHosts: readonly string[] = [],
  providers: readonly Provider[] = PROVIDERS,
): Provider | undefined {
  const d = normalize(domain);
  const byDomain = providers.find((p) => p.domains.includes(d));
  if (byDomain) return byDomain;
  const hosts = mxHosts.map(normalize);
  return providers.find((p) =>
    p.mxSuffixes.some((suffix) => hosts.some((h) => h.endsWith(`.${suffix}`)))
  );
}

/**
 * The layers that apply to a destination, least specific first, named for the admin API
 * (`default`, `provider:google`, `override:*`, `override:*.example.net`, `override:example.net`).
 */
export function policyLayers(
  domain: string,
  mxHosts: readonly string[] = [],
  overrides: PolicyOverrides = {},
  providers: readonly Provider[] = PROVIDERS,
): { readonly name: string; readonly override: DomainPolicyOverride }[] {
  const d = normalize(domain);
  const layers: { name: string; override: DomainPolicyOverride }[] = [
    { name: "default", override: DEFAULT_POLICY },
  ];
  const provider = findProvider(d, mxHosts, providers);
  if (provider) layers.push({ name: `provider:${provider.name}`, override: provider.policy });
  const own = (key: string) => Object.hasOwn(overrides, key) ? overrides[key] : undefined;
  const star = own("*");
  if (star) layers.push({ name: "override:*", override: star });
  for (const key of matchingSuffixKeys(d, mxHosts.map(normalize))) {
    const o = own(key);
    if (o) layers.push({ name: `override:${key}`, override: o });
  }
  const exact = own(d);
  if (exact) layers.push({ name: `override:${d}`, override: exact });
  return layers;
}

/** The policy for a destination (its domain, and its MX hosts when known), merged once. */
export function resolvePolicy(
  domain: string,
  mxHosts: readonly string[] = [],
  overrides: PolicyOverrides = {},
  providers: readonly Provider[] = PROVIDERS,
): DomainPolicy {
  let policy = DEFAULT_POLICY;
  for (const { override } of policyLayers(domain, mxHosts, overrides, providers)) {
    policy = mergePolicy(policy, override);
  }
  // A lowered ceiling must not leave the starting point above it.
  return policy.initialConnections > policy.maxConnections
    ? { ...policy, initialConnections: policy.maxConnections }
    : policy;
}

/** `base` with the fields `override` sets; `undefined` fields are ignored. */
export function mergePolicy(base: DomainPolicy, override: DomainPolicyOverride): DomainPolicy {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === undefined || key === "retry") continue;
    merged[key] = value;
  }
  const retry = override.retry ? { ...base.retry, ...defined(override.retry) } : base.retry;
  return { ...(merged as unknown as DomainPolicy), retry };
}

/** `*.suffix` keys for every proper suffix of the domain and of each MX host, shortest first. */
function matchingSuffixKeys(domain: string, mxHosts: readonly string[]): string[] {
  const keys = new Set<string>();
  for (const name of [domain, ...mxHosts]) {
    const labels = name.split(".");
    for (let i = 1; i < labels.length; i++) keys.add(`*.${labels.slice(i).join(".")}`);
  }
  return [...keys].sort((a, b) => a.split(".").length - b.split(".").length || (a < b ? -1 : 1));
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function normalize(name: string): string {
  const n = name.trim().toLowerCase();
  return n.endsWith(".") ? n.slice(0, -1) : n;
}
