/**
 * `deno task start`: the relay process. The only reader of Deno.env and the only writer to the
 * console: it loads the configuration, opens the database (server or embedded), applies
 * migrations, starts the admin server (with metrics, alerts and webhooks, relay/operations.ts),
 * then the relay's loops, and on SIGINT/SIGTERM stops them all gracefully.
 *
 * @module
 */
import { systemClock } from "./clock.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { jsonLogger } from "./log.ts";
import { startRelay } from "./relay.ts";
import { startOperations } from "./operations.ts";
import { openDatabase } from "../db/client.ts";
import { migrate } from "../db/migrate.ts";

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(Deno.env.toObject());
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`ferry: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const logger = jsonLogger(systemClock, (line) => console.log(line));
  const database = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.databaseUrl ? undefined : config.dataDir,
  });
  await migrate(database.db);

  const instance = `${config.hostname}:${Deno.pid}:${crypto.randomUUID().slice(0, 8)}`;
  let token = config.adminToken;
  if (!token) {
    token = crypto.randomUUID().replaceAll("-", "");
    console.error(`ferry: FERRY_ADMIN_TOKEN not set; generated admin token: ${token}`);
  }

  const stop = new AbortController();
  const onSignal = (sig: Deno.Signal) => () => {
    if (stop.signal.aborted) return;
    logger.log({ event: "relay.stopping", reason: sig });
    stop.abort(sig);
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((s) => [s, onSignal(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);

  // The admin server answers (503 on /healthz) while the relay starts; the relay is bound late.
  const ops = startOperations({
    db: database.db,
    config,
    clock: systemClock,
    logger,
    token,
    signal: stop.signal,
  });
  const server = Deno.serve({
    hostname: config.admin.hostname,
    port: config.admin.port,
    signal: stop.signal,
    onListen: ({ hostname, port }) =>
      console.error(`ferry: admin API on http://${hostname}:${port}`),
  }, ops.app.fetch);

  const relay = await startRelay(
    {
      database,
      config,
      clock: systemClock,
      random: Math.random,
      logger,
      instance,
      metrics: ops.metrics,
    },
    stop.signal,
  );
  ops.attach(relay);
  logger.log({ event: "relay.started", instance, backend: database.kind });

  await relay.done;
  await ops.done;
  await server.finished;
  await database.close();
  for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  logger.log({ event: "relay.stopped" });
  return 0;
}

if (import.meta.main) Deno.exit(await main());
