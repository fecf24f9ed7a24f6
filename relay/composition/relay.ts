/**
 * The relay's loops, wired to real ports: ingestion (adaptive polling, optionally woken by
 * NOTIFY), the lease reaper and retention. `startRelay` takes everything it needs as arguments,
 * so tests start a whole relay in-process with their own clock and database.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import type { Config } from "../config/config.ts";
import type { Database } from "../../db/client.ts";
import { ingestOutbox } from "../../db/ingest.ts";
import { listenForOutbox, setNotifyTrigger } from "../../db/notify.ts";
import { reapAllExpiredLeases } from "../../db/queue.ts";
import { purgeFinished } from "../../db/retention.ts";
import { DatabaseHealth } from "../../db/health.ts";
import type { Deliverer, DestinationStateStore, Random } from "../../actors/ports.ts";
import type { Logger } from "./log.ts";
import { Poller } from "../../actors/poller.ts";
import { Supervisor } from "../../actors/supervisor.ts";
import { OutcomeBatcher } from "../../actors/outcome_batcher.ts";
import { createDomainActor } from "../../actors/create_actor.ts";
import { resolvePolicy } from "../../actors/policy.ts";
import { pgQueue, toDelivery } from "../adapters/pg_queue.ts";
import type { SenderSnapshot } from "../../actors/snapshots.ts";
import { pgSenderBudgets, senderLimits } from "../adapters/sender_limits.ts";
import { purgeSenderBudgets } from "../../db/sender_budgets.ts";
import { pgDestinationStates } from "../adapters/destination_state_store.ts";
import { purgeDestinationStates } from "../../db/destination_state.ts";
import {
  type MtaStsPolicies,
  SmtpDeliverer,
  type SmtpDelivererOptions,
  type TlsReport,
} from "../adapters/smtp_deliverer.ts";
import type { RouteTransport, SmarthostAuthListener } from "../adapters/smarthost.ts";
import { HostLimits } from "../adapters/host_limits.ts";
import { SourceAddresses } from "../adapters/source_addresses.ts";
import { canonicalLineEnds } from "../mime/mod.ts";
import { rawMessageProblem } from "../mime/mod.ts";
import {
  MessageSource,
  ownUnsubscribeField,
  type UnsubscribeFields,
} from "../adapters/message_source.ts";
import { oneClickUnsubscribe } from "./unsubscribe.ts";
import { purgeUnsubscribeUses } from "../../db/unsubscribe.ts";
import { loadMessages, type MessageRow, messageRowSize } from "../../db/messages.ts";
import { MessageLoader } from "../adapters/message_loader.ts";
import {
  buildRouteTable,
  CachingResolver,
  createRouter,
  loadSystemNameServers,
  type Resolver,
  WireResolver,
} from "../dns/mod.ts";
import { createDkimSigner } from "../dkim/mod.ts";
import {
  type FetchPolicy,
  httpsPolicyFetcher,
  MtaSts,
  type PolicyLookup,
  rememberDecisions,
} from "../mta_sts/mod.ts";
import { pgMtaStsStore } from "../adapters/mta_sts_store.ts";
import type { Router } from "../dns/mod.ts";
import { BrokenTlsPeers } from "../tls/mod.ts";
import { actorMetrics, type Metrics } from "../metrics/mod.ts";
import { type BounceProcessing, bounceProcessing } from "../bounce_processing/mod.ts";
import type { PostReport, TlsResultSink } from "../tls_rpt/mod.ts";
import { tlsResultOf } from "../adapters/tls_results.ts";
import { tlsReporting } from "./tls_reports.ts";

export interface RelayDeps {
  readonly database: Database;
  readonly config: Config;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly instance: string;
  /** Replaces SMTP delivery (tests of the wiring); default: real SMTP. */
  readonly deliverer?: Deliverer;
  /** Replaces DNS (tests); default: the system's name servers. */
  readonly resolver?: Resolver;
  /**
   * Replaces the TCP connect of SMTP (tests: MX hosts on loopback ports, a connect that never
   * completes); default: Deno.connect.
   */
  readonly connect?: SmtpDelivererOptions["connect"];
  /** Wraps the deliverer in use (tests count SMTP operations in flight). */
  readonly wrapDeliverer?: (deliverer: Deliverer) => Deliverer;
  /** Fed with outcomes, attempt durations, open connections and live actors. */
  readonly metrics?: Metrics;
  /** Whether the database answers; default: one of the relay's own, stopped with its signal. */
  readonly health?: DatabaseHealth;
  /** Outcomes held in memory while the database is away (default 100,000). */
  readonly maxHeldOutcomes?: number;
  /** Told how AUTH through each smarthost route went: the alert monitor (operations.ts). */
  readonly smarthostAuth?: SmarthostAuthListener;
  /** Told how TLS went on every connection attempt, besides the metrics. */
  readonly onTls?: (report: TlsReport) => void;
  /** Replaces the MTA-STS policy fetch over HTTPS (tests: a local server with a test CA). */
  readonly fetchMtaStsPolicy?: FetchPolicy;
  /** Wraps the TLS report POSTs (RFC 8460 §5.4) of `tlsReports` (tests count them in flight). */
  readonly wrapReportPoster?: (post: PostReport) => PostReport;
  /**
   * The port of MX hosts (tests: local MX hosts on a free port, found through `resolver`);
   * default 25, the one port MX records imply (RFC 5321 §5.1).
   */
  readonly mxPort?: number;
  /**
   * Replaces where destinations' limits are kept (tests: a store that forgets, to measure what
   * keeping them prevents); default: `ferry.destination_state`, shared by every instance.
   */
  readonly destinationStates?: DestinationStateStore;
}

/**
 * A destination's saved limits are purged once nobody wrote them for this long (or for the
 * retention, when longer): by then every budget is full again.
 */
const DESTINATION_STATE_RETENTION_MS = 30 * 86_400_000;

/** The wait before the LISTEN connection is opened again after it was lost. */
const LISTEN_RETRY_MS = 1_000;

export interface RunningRelay {
  /** Resolves when every loop has stopped after the signal aborted (actors drained). */
  readonly done: Promise<void>;
  readonly supervisor: Supervisor;
  readonly health: DatabaseHealth;
  /**
   * Where each SMTP session's TLS result is recorded (RFC 8460), for the daily reports; drops
   * everything without `tlsReports`.
   */
  readonly tlsResults: TlsResultSink;
  /** The public unsubscribe listener's address (`FERRY_PUBLIC_LISTEN`), once bound. */
  readonly publicListener?: { readonly hostname: string; readonly port: number };
  /** The per-sender limits as they stand (absent without a `senders` section). */
  readonly senders?: { snapshot(now: number): SenderSnapshot[] };
  /** Polls the outbox now (an HTTP enqueue, a notification). */
  wake(): void;
}

/**
 * The real Deliverer (DNS or static routes, composition, DKIM, SMTP), its router, and the
 * MTA-STS policies it applies (with `delivery.mtaSts`).
 */
export async function smtpDeliverer(
  deps: RelayDeps,
  envelopeSender?: BounceProcessing["envelopeSender"],
  tlsResults?: TlsResultSink,
  listUnsubscribe?: UnsubscribeFields,
): Promise<{
  deliverer: Deliverer;
  router: Router;
  sources: SourceAddresses;
  mtaSts?: MtaStsPolicies;
  /** Hands the deliverer outbox rows read ahead (by the claims), so it need not read them. */
  primeMessages: (rows: readonly MessageRow[]) => void;
}> {
  const { config, clock } = deps;
  const routes = buildRouteTable(
    config.routes.map((r) => ({ pattern: r.pattern, host: r.host, port: r.port })),
  );
  if (!routes.ok) throw new Error(routes.reason);
  const trusted = new Set(config.delivery.trustedResolvers);
  const nameServers = (await loadSystemNameServers()).map((s) =>
    trusted.has(s.ipAddr) ? { ...s, trustAd: true } : s
  );
  const resolver = deps.resolver ??
    new CachingResolver(
      // DANE needs the DO bit on every query, so the AD bit comes back (RFC 3225, RFC 7672 §2.1).
      new WireResolver({ clock, nameServers, dnssec: config.delivery.dane }),
      { clock },
    );
  const signer = config.dkim.length > 0
    ? createDkimSigner({
      keys: config.dkim.map((k) => ({ ...k, privateKey: k.privateKey! })),
      clock,
    })
    : undefined;
  const caCerts = config.delivery.caFile
    ? [await Deno.readTextFile(config.delivery.caFile)]
    : undefined;
  const router = createRouter({
    resolver,
    random: deps.random,
    routes: routes.table,
    ...(deps.mxPort !== undefined ? { port: deps.mxPort } : {}),
  });
  const mtaSts = config.delivery.mtaSts
    ? rememberDecisions(
      logMtaStsWarnings(
        new MtaSts({
          clock,
          lookupTxt: (name, signal) => resolver.resolve(name, "TXT", signal),
          fetchPolicy: deps.fetchMtaStsPolicy ??
            httpsPolicyFetcher({ clock, ...(caCerts ? { caCerts } : {}) }),
          store: pgMtaStsStore(deps.database.db),
        }),
        deps.logger,
      ),
      clock,
    )
    : undefined;
  // The route table (relay/dns) knows patterns, hosts and ports only; what else a route says,
  // credentials included, stays here and reaches the deliverer by the pattern a plan names.
  const transports = new Map(config.routes.map((r) => [r.pattern, routeTransport(r)]));
  // The fallback relay is planned by a router of its own whose only route is `*` to it, so its
  // host is resolved (and its port kept) exactly as a static route's.
  const fallback = config.delivery.fallbackRelay;
  const fallbackRelay = fallback
    ? (() => {
      const table = buildRouteTable([fallback.route], "FERRY_CONFIG key delivery.fallbackRelay");
      if (!table.ok) throw new Error(table.reason);
      const only = createRouter({ resolver, random: deps.random, routes: table.table });
      const transport = routeTransport(fallback.route);
      return {
        afterMs: fallback.afterMs,
        plan: (signal: AbortSignal) => only.planRoute(FALLBACK_PLAN_DOMAIN, signal),
        ...(transport ? { transport } : {}),
      };
    })()
    : undefined;
  // One statement for every message asked for while the previous read was in flight; rows the
  // claims read ahead are primed into it (pgQueue's onMessages).
  const rows = new MessageLoader<MessageRow>(
    (ids) => loadMessages(deps.database.db, ids),
    500,
    { sizeOf: messageRowSize },
  );
  const sources = new SourceAddresses({
    global: config.delivery.sourceAddresses,
    byDomain: config.domainSourceAddresses,
    defaultHelo: config.hostname,
  });
  const deliverer = new SmtpDeliverer({
    clock,
    router,
    messages: new MessageSource({
      load: (id) => rows.load(id),
      clock,
      messageIdDomain: config.hostname,
      ...(signer ? { signer } : {}),
      ...(listUnsubscribe ? { listUnsubscribe } : {}),
    }),
    heloName: config.hostname,
    tlsPolicy: (domain, mxHosts) => resolvePolicy(domain, mxHosts, config.domains).tls,
    brokenTls: new BrokenTlsPeers({ clock }),
    hostLimits: new HostLimits(config.delivery.maxConnectionsPerHost),
    ...(caCerts ? { caCerts } : {}),
    ...(envelopeSender ? { envelopeSender } : {}),
    routeTransport: (pattern) => transports.get(pattern),
    ...(deps.smarthostAuth ? { smarthostAuth: deps.smarthostAuth } : {}),
    ...(mtaSts ? { mtaSts } : {}),
    ...(config.delivery.dane ? { dane: { resolver } } : {}),
    onTls: (r) => {
      deps.metrics?.recordTls(r.applied.kind, r.result);
      const result = tlsResults && tlsResultOf(r, clock.now());
      if (result) tlsResults.record(result);
      deps.onTls?.(r);
    },
    ...(deps.connect ? { connect: deps.connect } : {}),
    ...(sources.configured ? { sourceAddresses: sources } : {}),
    ...(fallbackRelay ? { fallbackRelay } : {}),
  });
  const primeMessages = (read: readonly MessageRow[]) => rows.prime(read.map((r) => [r.id, r]));
  return { deliverer, router, sources, primeMessages, ...(mtaSts ? { mtaSts } : {}) };
}

/**
 * Logs the warning a decision carries: RFC 8461 §5.1 asks MTAs to alert administrators "through
 * the use of logs or similar" when a policy refresh fails, unless the cached policy's mode is
 * `none`; the same goes for a record or a policy that is broken. Behind the decisions' memory,
 * a domain's warning is logged at most once per decision, not once per connection.
 */
export function logMtaStsWarnings(inner: PolicyLookup, logger: Logger): PolicyLookup {
  return {
    async policyFor(domain, signal) {
      const decision = await inner.policyFor(domain, signal);
      const stillNone = decision.mode === "none" && decision.source === "fallback";
      if (decision.warning && !stillNone) {
        logger.log({
          event: "mta_sts.warning",
          domain: decision.domain,
          mode: decision.mode,
          warning: decision.warning,
        });
      }
      return decision;
    },
  };
}

/** Any routable name: the fallback relay's router sends every name to its one `*` route. */
const FALLBACK_PLAN_DOMAIN = "fallback.invalid";

/** A configured route's transport; undefined for a plain route (the destination's policy). */
function routeTransport(route: Config["routes"][number]): RouteTransport | undefined {
  if (!route.tls) return undefined;
  const auth = route.auth;
  return {
    tls: route.tls,
    verify: route.verify ?? true,
    ...(auth
      ? {
        auth: {
          username: auth.username,
          password: auth.password,
          ...(auth.mechanism ? { mechanism: auth.mechanism } : {}),
        },
      }
      : {}),
  };
}

/**
 * MX rollup: domains routed by MX records to the same set of hosts share one actor, keyed by
 * those hosts, when their policy allows it. Static routes and implicit MX stay per domain.
 *
 * So does a domain that publishes an MTA-STS policy (`enforce` or `testing`), and one whose
 * policy cannot be read: an actor opens its connections under the policy of the domain that
 * created it, so a shared one would send an `enforce` domain's mail to hosts its policy does not
 * list, or without verified TLS, when another domain came first, and would defer the others'
 * mail when it came first (RFC 8461 §5: a policy applies to its own domain's mail).
 *
 * With `dane`, so does a domain whose MX answer is DNSSEC-secure: DANE applies to an MX host
 * only when the MX lookup of the domain being delivered was secure (RFC 7672 §2.2.1), and a
 * DANE-TA certificate may name the next-hop domain (§3.2.3). Grouped with a domain whose MX
 * answer is insecure, its mail would go to a host whose TLSA records it never checked whenever
 * the other domain came first, and the other's would be held to records that do not apply.
 *
 * So does a domain with source addresses of its own (`ownSources`): a shared actor connects
 * from the addresses of whichever domain created it.
 */
export function rollupKey(
  router: Router,
  overrides: Config["domains"],
  mtaSts?: MtaStsPolicies,
  dane = false,
  ownSources?: (domain: string) => boolean,
) {
  return async (domain: string): Promise<string> => {
    if (!resolvePolicy(domain, [], overrides).mxRollup) return domain;
    if (ownSources?.(domain)) return domain;
    const plan = await router.planRoute(domain);
    if (plan.kind !== "hosts" || plan.via !== "mx") return domain;
    if (dane && plan.mxSecure) return domain;
    const names = [...new Set(plan.hosts.map((h) => h.name.toLowerCase()))].sort();
    if (!resolvePolicy(domain, names, overrides).mxRollup) return domain;
    if (mtaSts) {
      const decision = await mtaSts.policyFor(domain).catch(() => undefined);
      if (decision === undefined || decision.mode !== "none") return domain;
    }
    return `mx:${names.join(",")}`;
  };
}

/** The MX hosts named by a rollup key (`mx:a,b`), for the providers' MX-suffix policies. */
function mxHostsOf(key: string): string[] {
  return key.startsWith("mx:") ? key.slice(3).split(",") : [];
}

export async function startRelay(deps: RelayDeps, signal: AbortSignal): Promise<RunningRelay> {
  const { database, config, clock, logger } = deps;
  const q = config.queue;
  const db = database.db;
  const metrics = deps.metrics ? actorMetrics(deps.metrics) : undefined;
  const health = deps.health ?? new DatabaseHealth({
    db,
    clock,
    random: deps.random,
    log: (e) => logger.log(e),
    signal,
  });
  // An error of the connection marks the database down (one log line for the whole outage);
  // anything else is this loop's own failure.
  const failed = (loop: string) => (err: unknown) => {
    if (health.failed(err)) return;
    logger.log({
      event: "loop.failed",
      loop,
      error: err instanceof Error ? err.message : String(err),
    });
  };

  const unsubscribe = oneClickUnsubscribe(
    { config, db, clock, logger, instance: deps.instance },
    signal,
  );
  // Per-sender limits: one set of budgets for every actor, shared with other instances in db.
  const senders = senderLimits(config.senders, pgSenderBudgets(db), {
    ...(deps.metrics ? { onWait: deps.metrics.recordSenderWait } : {}),
  });
  // Set once the real deliverer exists: claims read their messages' content for it.
  const read: { ahead?: (rows: readonly MessageRow[]) => void } = {};
  const poller = new Poller({
    clock,
    minMs: q.pollMin,
    maxMs: q.pollMax,
    onError: failed("ingest"),
    async poll() {
      if (!health.up) return { more: false };
      const r = await ingestOutbox(db, {
        // New mail to a destination whose actor runs here is claimed in the ingest transaction.
        claim: {
          owner: deps.instance,
          leaseMs: q.leaseDuration,
          requests: (domains) => supervisor.requestsFor(domains, clock.now()),
          ...(deps.deliverer ? {} : { withMessages: true }),
          ...(senders ? { tenantKey: config.delivery.tenantKey } : {}),
        },
        isConnectionError: (err) => health.failed(err),
        checkRaw: (raw, row) => {
          const bytes = canonicalLineEnds(raw);
          return rawMessageProblem(bytes) ??
            (row.listUnsubscribe ? ownUnsubscribeField(bytes) : undefined);
        },
        now: new Date(clock.now()),
        limit: q.ingestBatch,
        maxLifetimeMs: q.maxLifetime,
        limits: { maxMessageSize: q.maxMessageSize, maxRecipients: q.maxRecipients },
        listUnsubscribe: unsubscribe !== undefined,
      });
      if (r.claimed.length > 0) {
        const rows = r.claimed.flatMap((d) => (d.message ? [d.message] : []));
        if (rows.length > 0) read.ahead?.(rows);
        await supervisor.accept(r.claimed.map((d) => toDelivery(d, senders?.keys)), clock.now());
      }
      // The rest (new destinations, actors without room) is the supervisor's next pass.
      if (r.queued > r.claimed.length) supervisor.wake();
      for (let i = 0; i < r.rejected; i++) deps.metrics?.recordOutcome("rejected");
      for (let i = 0; i < r.suppressed; i++) deps.metrics?.recordOutcome("suppressed");
      if (r.rows > 0) {
        logger.log({
          event: "ingest.batch",
          rows: r.rows,
          queued: r.queued,
          rejected: r.rejected,
          suppressed: r.suppressed,
        });
      }
      return { more: r.rows === q.ingestBatch, found: r.rows > 0 };
    },
  });

  const queue = pgQueue({
    db,
    instance: deps.instance,
    deliveryLeaseMs: q.leaseDuration,
    domainLeaseMs: config.delivery.domainLease,
    suppressForMs: config.delivery.suppressFor,
    ...(deps.deliverer ? {} : { onMessages: (rows) => read.ahead?.(rows) }),
    ...(senders ? { senders: { keys: senders.keys, tenantKey: config.delivery.tenantKey } } : {}),
  });
  const batcher = new OutcomeBatcher((outcomes) => queue.record(outcomes, clock.now()), {
    maxHeld: deps.maxHeldOutcomes ?? 100_000,
    // While the database is away the outcomes wait for it, so a mail that got its 250 is not sent
    // again; at shutdown (signal aborted) they are given up to their leases.
    async retry(err) {
      if (!health.failed(err)) {
        failed("outcomes")(err);
        return false;
      }
      await health.waitUntilUp(signal);
      return !signal.aborted;
    },
    gaveUp: (count, reason) => logger.log({ event: "outcome.given_up", count, reason }),
  });
  const bounces = bounceProcessing({
    config,
    database,
    clock,
    logger,
    instance: deps.instance,
    ...(unsubscribe?.mailbox ? { unsubscribe: unsubscribe.mailbox } : {}),
  });
  const tlsReports = await tlsReporting({
    config,
    database,
    clock,
    logger,
    instance: deps.instance,
    health,
    ...(deps.resolver ? { resolver: deps.resolver } : {}),
    ...(deps.wrapReportPoster ? { wrapReportPoster: deps.wrapReportPoster } : {}),
  }, signal);
  const real = deps.deliverer
    ? undefined
    : await smtpDeliverer(deps, bounces.envelopeSender, tlsReports.sink, unsubscribe?.fields);
  if (real) read.ahead = real.primeMessages;
  const base = deps.deliverer ?? real!.deliverer;
  const deliverer = deps.wrapDeliverer?.(base) ?? base;
  const supervisor = new Supervisor({
    queue,
    clock,
    logger,
    ...(real
      ? {
        destinationOf: rollupKey(
          real.router,
          config.domains,
          real.mtaSts,
          config.delivery.dane,
          (domain) => real.sources.ownPool(domain),
        ),
      }
      : {}),
    ...(metrics ? { metrics } : {}),
    store: health,
    states: deps.destinationStates ?? pgDestinationStates({ db, instance: deps.instance }),
    createActor: (key, domain, restored) =>
      createDomainActor(key, domain, resolvePolicy(domain, mxHostsOf(key), config.domains), {
        clock,
        random: deps.random,
        deliverer,
        record: (o) => batcher.record(o),
        logger,
        leaseMarginMs: Math.min(10_000, q.leaseDuration / 4),
        leaseMs: q.leaseDuration,
        release: (ds, at) => queue.release(ds, at ?? clock.now(), clock.now()),
        ...(senders ? { senders: senders.budgets } : {}),
        ...(metrics ? { metrics } : {}),
      }, restored),
    options: {
      maxActors: config.delivery.maxActors,
      domainLeaseMs: config.delivery.domainLease,
      drainMs: config.delivery.drainTimeout,
    },
  });

  const loops: Promise<void>[] = [
    poller.run(signal),
    // The TLS results go after the outcomes: both are complete once the last actor has drained.
    supervisor.run(signal).then(() => batcher.flush()).then(() => tlsReports.flush())
      .catch(failed("supervisor")),
  ];
  if (database.kind === "postgres") {
    await setNotifyTrigger(db, q.notify);
    if (q.notify && config.databaseUrl) {
      loops.push(
        // A lost LISTEN connection is opened again; polling covers the rows meanwhile.
        listenForOutbox(config.databaseUrl, () => poller.wake(), signal, {
          clock,
          retryMs: LISTEN_RETRY_MS,
          onError: failed("listen"),
        }).catch(failed("listen")),
      );
    }
  }
  loops.push(every(health, clock, Math.max(1000, q.leaseDuration / 4), signal, async () => {
    const n = await reapAllExpiredLeases(db, { now: new Date(clock.now()) });
    if (n > 0) logger.log({ event: "lease.reaped", deliveries: n });
  }, failed("reaper")));
  loops.push(
    bounces.run(signal).catch(failed("bounce")),
  );
  loops.push(tlsReports.run(signal).catch(failed("tls-reports")));
  if (unsubscribe) loops.push(unsubscribe.done.catch(failed("public-listener")));
  loops.push(every(health, clock, 3_600_000, signal, async () => {
    const before = new Date(clock.now() - q.retention);
    const r = await purgeFinished(db, { before });
    if (r.deliveries + r.events + r.outbox > 0) logger.log({ event: "retention.purged", ...r });
    const b = await bounces.purge(before);
    if (b.messages > 0) logger.log({ event: "bounce.purged", ...b });
    if (config.unsubscribe) {
      await purgeUnsubscribeUses(db, new Date(clock.now() - config.unsubscribe.tokenLifetime));
    }
    const stale = new Date(clock.now() - Math.max(q.retention, DESTINATION_STATE_RETENTION_MS));
    await purgeDestinationStates(db, stale);
    // A sender rate nobody reserved for that long is full again (and maybe no longer configured).
    await purgeSenderBudgets(db, stale);
  }, failed("retention")));

  return {
    done: Promise.all(loops).then(() => health.stopped()),
    supervisor,
    health,
    tlsResults: tlsReports.sink,
    ...(unsubscribe?.listening ? { publicListener: unsubscribe.listening } : {}),
    ...(senders ? { senders: senders.budgets } : {}),
    wake: () => {
      poller.wake();
      supervisor.wake();
    },
  };
}

/** Runs `fn` every `ms` until the signal aborts; a failure is reported and the loop goes on. */
async function every(
  health: Pick<DatabaseHealth, "up">,
  clock: Clock,
  ms: number,
  signal: AbortSignal,
  fn: () => Promise<void>,
  onError: (err: unknown) => void,
): Promise<void> {
  while (!signal.aborted) {
    try {
      if (health.up) await fn();
    } catch (err) {
      onError(err);
    }
    await clock.sleep(ms, signal).catch(() => {});
  }
}
