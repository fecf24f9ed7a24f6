/**
 * TLS reporting wired (RFC 8460): the sink the SMTP deliverer records each session's TLS result
 * in (counters batched into PostgreSQL), and the daily report loop. With `tlsReports` absent or
 * disabled, the sink drops everything and the loop does nothing.
 *
 * @module
 */
import type { Clock } from "../../lib/clock.ts";
import type { Config } from "../config/config.ts";
import type { Database } from "../../db/client.ts";
import type { DatabaseHealth } from "../../db/health.ts";
import { pgTlsReportStore, pgTlsResultStore } from "../adapters/tls_rpt_store.ts";
import { CachingResolver, loadSystemNameServers, type Resolver, WireResolver } from "../dns/mod.ts";
import {
  httpsReportPoster,
  NO_TLS_RESULTS,
  type PostReport,
  runTlsReports,
  TlsResultBatcher,
  type TlsResultSink,
} from "../tls_rpt/mod.ts";
import type { Logger } from "./log.ts";

export interface TlsReportingDeps {
  readonly config: Config;
  readonly database: Database;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly instance: string;
  readonly health: Pick<DatabaseHealth, "up" | "failed" | "waitUntilUp">;
  /** Where `_smtp._tls` records are looked up; default: the system's name servers. */
  readonly resolver?: Resolver;
  /** Wraps the HTTPS report poster (tests count the POSTs in flight). */
  readonly wrapReportPoster?: (post: PostReport) => PostReport;
}

export interface TlsReporting {
  /** For the SMTP deliverer: one `record()` per session (see relay/tls_rpt/result.ts). */
  readonly sink: TlsResultSink;
  /** Runs the daily report loop until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
  /** Writes what the sink holds: after the deliverer's last session, at shutdown. */
  flush(): Promise<void>;
}

export async function tlsReporting(
  deps: TlsReportingDeps,
  signal: AbortSignal,
): Promise<TlsReporting> {
  const settings = deps.config.tlsReports;
  if (!settings?.enabled) {
    return { sink: NO_TLS_RESULTS, run: () => Promise.resolve(), flush: () => Promise.resolve() };
  }
  const { clock, logger, health } = deps;
  const db = deps.database.db;
  const batcher = new TlsResultBatcher(pgTlsResultStore(db), {
    // While the database is away the counters wait for it (bounded by distinct counters); at
    // shutdown they are dropped.
    async retry(err) {
      if (!health.failed(err)) return false;
      await health.waitUntilUp(signal);
      return !signal.aborted;
    },
    dropped: (sessions, reason) =>
      logger.log({ event: "tlsrpt.results_dropped", sessions, reason }),
  });
  const resolver = deps.resolver ??
    new CachingResolver(new WireResolver({ clock, nameServers: await loadSystemNameServers() }), {
      clock,
    });
  const caCerts = deps.config.delivery.caFile
    ? [await Deno.readTextFile(deps.config.delivery.caFile)]
    : undefined;
  const poster = httpsReportPoster({
    clock,
    timeoutMs: settings.timeout,
    ...(caCerts ? { caCerts } : {}),
  });
  const post = deps.wrapReportPoster?.(poster) ?? poster;
  return {
    sink: batcher,
    run: (stop) =>
      runTlsReports({
        clock,
        store: pgTlsReportStore(db),
        resolver,
        post,
        config: settings,
        instance: deps.instance,
        log: (line) => logger.log(line),
        ready: () => health.up,
      }, stop),
    flush: () => batcher.flush(),
  };
}
