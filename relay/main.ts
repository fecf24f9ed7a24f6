/**
 * `deno task start`: the relay process. The only reader of Deno.env and the only writer to the
 * console: it loads the configuration, takes the embedded data directory's lock, starts the admin
 * server (which answers `/livez` at once and `/readyz` 503 until the relay runs), waits for the
 * database, applies migrations, then starts the relay's loops, and on SIGINT/SIGTERM stops them
 * all gracefully. A resource it cannot start without is reported as one line naming the setting,
 * with exit code 1; a promise rejection nobody handled is logged and stops the relay in order.
 *
 * @module
 */
import { Hono } from "hono";
import { systemClock } from "../lib/clock.ts";
import { ConfigError, loadConfig } from "./config/config.ts";
import { jsonLogger } from "./composition/log.ts";
import { startRelay } from "./composition/relay.ts";
import { startOperations } from "./composition/operations.ts";
import { openDatabase } from "../db/client.ts";
import { DatabaseHealth, isConnectionError } from "../db/health.ts";
import { migrate } from "../db/migrate.ts";
import { reclaimOwnLeases } from "../db/queue.ts";
import { lockDataDir } from "./composition/data_dir_lock.ts";
import { serveOrFail, StartupError } from "./composition/startup_error.ts";
import { instanceIdentity } from "./composition/instance_identity.ts";
import { waitForDatabase } from "./composition/wait_for_database.ts";

async function main(): Promise<number> {
  const env = Deno.env.toObject();
  const config = loadConfig(env);
  const logger = jsonLogger(systemClock, (line) => console.log(line));
  const stop = new AbortController();

  // A rejection or error nobody handled is a bug: say so, and stop in order (drain, hand back)
  // instead of dying with work on leases.
  const unhandled = (e: PromiseRejectionEvent | ErrorEvent) => {
    e.preventDefault();
    const err = "reason" in e ? e.reason : e.error;
    logger.log({ event: "process.unhandled", error: String(err?.stack ?? err) });
    if (!stop.signal.aborted) stop.abort("unhandled");
    exitCode = 1;
  };
  let exitCode = 0;
  globalThis.addEventListener("unhandledrejection", unhandled);
  globalThis.addEventListener("error", unhandled);

  const onSignal = (sig: Deno.Signal) => () => {
    if (stop.signal.aborted) return;
    logger.log({ event: "relay.stopping", reason: sig });
    stop.abort(sig);
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((s) => [s, onSignal(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);

  using _lock = config.databaseUrl ? undefined : await lockDataDir(config.dataDir);
  const database = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.databaseUrl ? undefined : config.dataDir,
    preparedStatements: config.database.preparedStatements,
  }).catch((err) => {
    throw new StartupError(
      "FERRY_DATA_DIR",
      `cannot open FERRY_DATA_DIR ${config.dataDir}: ${err}`,
    );
  });
  const health = new DatabaseHealth({
    db: database.db,
    clock: systemClock,
    random: Math.random,
    log: (e) => logger.log(e),
    signal: stop.signal,
  });

  // Until the relay runs, the admin server answers the probes only: alive, not ready.
  let waitingForDatabase = false;
  let handler: (req: Request) => Response | Promise<Response> =
    bootApp(() =>
      stop.signal.aborted
        ? "draining"
        : waitingForDatabase || !health.up
        ? "waiting for the database"
        : "starting"
    ).fetch;
  const server = serveOrFail(
    "FERRY_ADMIN_LISTEN",
    config.admin,
    stop.signal,
    (req) => handler(req),
    ({ hostname, port }) => console.error(`ferry: admin API on http://${hostname}:${port}`),
  );

  if (database.kind === "postgres" && config.databaseUrl) {
    for (;;) {
      const up = await waitForDatabase({
        db: database.db,
        url: config.databaseUrl,
        clock: systemClock,
        random: Math.random,
        signal: stop.signal,
        waiting: (line) => {
          waitingForDatabase = true;
          console.error(`ferry: ${line}`);
        },
      });
      waitingForDatabase = false;
      if (!up) break;
      try {
        await migrate(database.db);
        break;
      } catch (err) {
        if (!isConnectionError(err)) throw err;
      }
    }
  } else {
    await migrate(database.db);
  }
  if (stop.signal.aborted) {
    await server.finished;
    await database.close();
    return exitCode;
  }

  const instance = await instanceIdentity({
    explicit: env.FERRY_INSTANCE_ID,
    dataDir: config.databaseUrl ? undefined : config.dataDir,
    hostname: config.hostname,
    pid: Deno.pid,
  });
  if (instance.stable) {
    const n = await reclaimOwnLeases(database.db, { owner: instance.id, now: new Date() });
    if (n > 0) logger.log({ event: "lease.reclaimed", instance: instance.id, deliveries: n });
  }
  let token = config.adminToken;
  if (!token) {
    token = crypto.randomUUID().replaceAll("-", "");
    console.error(`ferry: FERRY_ADMIN_TOKEN not set; generated admin token: ${token}`);
  }

  const ops = startOperations({
    db: database.db,
    config,
    clock: systemClock,
    logger,
    token,
    signal: stop.signal,
    health,
  });
  handler = ops.app.fetch;
  const relay = await startRelay(
    {
      database,
      config,
      clock: systemClock,
      random: Math.random,
      logger,
      instance: instance.id,
      metrics: ops.metrics,
      health,
      smarthostAuth: (e) => ops.alerts.smarthostAuth(e),
    },
    stop.signal,
  );
  ops.attach(relay);
  logger.log({ event: "relay.started", instance: instance.id, backend: database.kind });

  await relay.done;
  await ops.done;
  await server.finished;
  await database.close();
  for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  logger.log({ event: "relay.stopped" });
  return exitCode;
}

/** The admin server before the relay runs: `/livez` ok, `/readyz` 503 with the reason. */
function bootApp(reason: () => string): Hono {
  const app = new Hono();
  app.get("/livez", (c) => c.json({ status: "ok" }));
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.all("*", (c) => c.json({ status: "unready", reason: reason() }, 503));
  return app;
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main();
  } catch (err) {
    if (err instanceof ConfigError || err instanceof StartupError) {
      console.error(`ferry: ${err.message}`);
      code = 1;
    } else {
      console.error(`ferry: cannot start: ${err instanceof Error ? err.stack : String(err)}`);
      code = 1;
    }
  }
  Deno.exit(code);
}
