/**
 * A whole relay in-process for end-to-end tests: a fresh database, the real loops (ingestion,
 * supervisor, domain actors, SMTP delivery) on a FakeClock, and static routes to local SMTP
 * servers. `pumpUntil` moves the fake time in steps, each once the real I/O in flight is done
 * (tests/e2e/_pump.ts), so nothing waits on real time and time never races ahead of I/O.
 */
import { sql } from "kysely";
import { loadConfig } from "../../relay/config/config.ts";
import { type RelayDeps, startRelay } from "../../relay/composition/relay.ts";
import { type Operations, startOperations } from "../../relay/composition/operations.ts";
import type { LogEvent } from "../../relay/composition/log.ts";
import type { TlsResultSink } from "../../relay/tls_rpt/mod.ts";
import { type TestDatabase, testDatabase } from "../_support/db.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";
import { IoTracker, pumpUntil } from "./_pump.ts";

export interface TestRelay extends AsyncDisposable {
  readonly t: TestDatabase;
  readonly clock: FakeClock;
  readonly events: LogEvent[];
  /** Real I/O in flight (SMTP, database), shared with peers on the same clock. */
  readonly io: IoTracker;
  /** With `operations: true`: metrics, alerts, webhooks and the admin app, as main.ts wires them. */
  readonly ops: Operations | undefined;
  /** The relay's TLS result sink (RFC 8460), as the SMTP deliverer is given it. */
  readonly tlsResults: TlsResultSink;
  /**
   * Advances time by `stepMs` until `cond` holds, each step once the relay's real I/O is quiet
   * (tests/e2e/_pump.ts); bounded by `maxSteps` and by `maxRealMs` of real time.
   */
  pumpUntil(
    cond: () => boolean | Promise<boolean>,
    what: string,
    stepMs?: number,
    maxSteps?: number,
    maxRealMs?: number,
  ): Promise<void>;
  statuses(): Promise<Record<string, string>>;
}

export const T0 = Date.UTC(2030, 2, 1, 10);

export interface TestRelayOptions {
  readonly routes: string;
  readonly config?: Record<string, unknown>;
  /** More environment variables (e.g. FERRY_PUBLIC_LISTEN). */
  readonly env?: Record<string, string>;
  /** Run as a second instance on `peer`'s database (its own connections) and clock. */
  readonly peer?: TestRelay;
  readonly instance?: string;
  /** Also start what main.ts starts beside the relay (relay/composition/operations.ts); token `ADMIN_TOKEN`. */
  readonly operations?: boolean;
  /** Webhook POSTs go here instead of the network. */
  readonly fetch?: typeof fetch;
  /**
   * Run on this database and clock, and leave the database open when disposed: a restart is a
   * second relay on the first one's database, once the first is disposed.
   */
  readonly database?: TestDatabase;
  readonly clock?: FakeClock;
  /**
   * DNS, MX port, TCP connect of SMTP (tests/e2e/_mx.ts), MTA-STS fetch, TLS report listener and
   * report POSTs of the relay (default: none, static routes only); where destinations' limits are
   * kept (default: the database).
   */
  readonly deps?: Pick<
    RelayDeps,
    | "resolver"
    | "mxPort"
    | "fetchMtaStsPolicy"
    | "connect"
    | "onTls"
    | "destinationStates"
    | "wrapReportPoster"
  >;
}

export const ADMIN_TOKEN = "e2e-admin-token-0123456789";

export async function startTestRelay(o: TestRelayOptions): Promise<TestRelay> {
  const t = o.peer?.t ?? o.database ?? await testDatabase();
  // A peer's extra handle is closed together with the peer's database.
  const database = o.peer ? await t.reopen() : t;
  const clock = o.peer?.clock ?? o.clock ?? new FakeClock(T0);
  const events: LogEvent[] = [];
  const config = loadConfig(
    { ...o.env, FERRY_ROUTES: o.routes, FERRY_HOSTNAME: "relay.test", FERRY_CONFIG: "test.json" },
    // The config file is `o.config`; any other file it names (a passwordFile) is read from disk.
    (path) => path === "test.json" ? JSON.stringify(o.config ?? {}) : Deno.readTextFileSync(path),
    () => "relay.test",
  );
  const io = o.peer?.io ?? new IoTracker();
  io.probe(database.inUse);
  const stop = new AbortController();
  const logger = { log: (e: LogEvent) => events.push(e) };
  const ops = o.operations
    ? startOperations({
      db: database.db,
      config,
      clock,
      logger,
      token: ADMIN_TOKEN,
      signal: stop.signal,
      ...(o.fetch ? { fetch: o.fetch } : {}),
    })
    : undefined;
  const relay = await startRelay({
    database,
    config,
    clock,
    random: () => 0.5,
    logger,
    instance: o.instance ?? "e2e",
    wrapDeliverer: (d) => io.wrap(d),
    ...o.deps,
    ...(ops ? { metrics: ops.metrics, smarthostAuth: (e) => ops.alerts.smarthostAuth(e) } : {}),
  }, stop.signal);
  ops?.attach(relay);
  const yieldIo = () => new Promise((r) => setTimeout(r, 1));
  return {
    t,
    clock,
    events,
    ops,
    io,
    tlsResults: relay.tlsResults,
    pumpUntil(cond, what, stepMs = 10, maxSteps = 3000, maxRealMs = 60_000) {
      return pumpUntil(clock, io, cond, what, { stepMs, maxSteps, maxRealMs });
    },
    async statuses() {
      const { rows } = await sql<{ recipient: string; status: string }>`
        SELECT recipient, status FROM ferry.deliveries ORDER BY id`.execute(t.db);
      return Object.fromEntries(rows.map((r) => [r.recipient, r.status]));
    },
    async [Symbol.asyncDispose]() {
      stop.abort();
      // Drain waits on the fake clock for in-flight work: keep time moving until it is done.
      let done = false;
      const finished = Promise.all([relay.done, ops?.done]).then(() => (done = true));
      for (let i = 0; i < 10_000 && !done; i++) {
        await yieldIo();
        await clock.advance(1000);
      }
      await finished;
      if (!o.peer && !o.database) await t[Symbol.asyncDispose]();
    },
  };
}

/** Inserts an outbox row as an application would, timed on the test relay's clock. */
export async function enqueue(
  r: TestRelay,
  row: {
    to: string[];
    subject?: string;
    text?: string;
    priority?: number;
    sendAt?: number;
    expiresAt?: number;
    /** Default `Sender <sender@ferry.test>`. */
    from?: string;
    metadata?: Record<string, unknown>;
  },
): Promise<number> {
  const at = new Date(r.clock.now());
  const res = await r.t.db.insertInto("ferry.outbox").values({
    from_address: row.from ?? "Sender <sender@ferry.test>",
    ...(row.metadata ? { metadata: JSON.stringify(row.metadata) } : {}),
    to_addresses: row.to,
    subject: row.subject ?? "hello",
    text_body: row.text ?? "body",
    priority: row.priority ?? 1,
    send_at: row.sendAt ? new Date(row.sendAt) : at,
    created_at: at,
    ...(row.expiresAt ? { expires_at: new Date(row.expiresAt) } : {}),
  }).returning("id").executeTakeFirstOrThrow();
  return Number(res.id);
}
