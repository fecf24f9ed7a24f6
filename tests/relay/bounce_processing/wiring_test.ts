import assert from "node:assert/strict";
import type { Delivery } from "../../../actors/ports.ts";
import type { LogEvent } from "../../../relay/composition/log.ts";
import { decodeVerp } from "../../../relay/bounce_parsing/mod.ts";
import {
  startBounceLoop,
  suppressionPolicy,
  verpSender,
} from "../../../relay/bounce_processing/wiring.ts";
import { ConfigError, loadConfig } from "../../../relay/config/config.ts";
import type { Database } from "../../../db/client.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";

const BOUNCE = {
  host: "pop.example.com",
  username: "bounces",
  password: "pop-password",
  verp: { domain: "bounce.example.com", secret: "verp-secret-0123456789" },
};

function config(file: Record<string, unknown>) {
  return loadConfig(
    { FERRY_HOSTNAME: "relay.test", FERRY_CONFIG: "ferry.json" },
    () => JSON.stringify(file),
    () => "relay.test",
  );
}

/** Never touched: the loop must not reach the database in these tests. */
const NO_DATABASE = {} as Database;

Deno.test("loadConfig() reads an optional bounce section with its defaults", () => {
  assert.equal(config({}).bounce, undefined);
  const c = config({ bounce: BOUNCE, delivery: { suppressFor: "30d" } });
  assert.equal(c.bounce?.port, 995);
  assert.equal(c.bounce?.tls, "implicit");
  assert.equal(c.bounce?.pollInterval, 60_000);
  assert.equal(c.bounce?.password.reveal(), "pop-password");
  assert.doesNotMatch(JSON.stringify(c), /pop-password|verp-secret/, "secrets never print");
  assert.deepEqual(suppressionPolicy(c), {
    hardBounceMs: 30 * 86_400_000,
    complaintMs: 30 * 86_400_000,
  });
});

Deno.test("loadConfig() names a bad key of the bounce section", () => {
  assert.throws(
    () => config({ bounce: { ...BOUNCE, pollIntervall: "1m" } }),
    (e: unknown) =>
      e instanceof ConfigError && /bounce/.test(e.key) && /pollIntervall/.test(e.message),
  );
  assert.throws(
    () =>
      config({ bounce: { ...BOUNCE, verp: { domain: "bounce.example.com", secret: "short" } } }),
    (e: unknown) => e instanceof ConfigError && e.key.endsWith("bounce.verp.secret"),
  );
});

Deno.test("verpSender() encodes each delivery's id, and is absent without a bounce section", () => {
  assert.equal(verpSender(config({})), undefined);
  const c = config({ bounce: BOUNCE });
  const sender = verpSender(c)!;
  const address = sender({ id: 4711 } as Delivery);
  assert.match(address, /^bounces\+4711-[0-9a-f]{10}@bounce\.example\.com$/);
  assert.equal(decodeVerp(address, { prefix: "bounces", ...BOUNCE.verp }), "4711");
});

Deno.test("startBounceLoop() resolves at once without a bounce section", async () => {
  const stop = new AbortController();
  await startBounceLoop({
    config: config({}),
    database: NO_DATABASE,
    clock: new FakeClock(),
    logger: { log: () => assert.fail("nothing to log") },
    signal: stop.signal,
  });
});

Deno.test("startBounceLoop() logs a failed poll and stops when aborted", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const clock = new FakeClock();
  const logged: LogEvent[] = [];
  const stop = new AbortController();
  const polled = Promise.withResolvers<void>();
  const loop = startBounceLoop({
    config: config({ bounce: { ...BOUNCE, host: "127.0.0.1", port, tls: "none", auth: "apop" } }),
    log: (e) => e.kind === "bounce.poll_finished" && polled.resolve(),
    database: NO_DATABASE,
    clock,
    logger: { log: (e) => logged.push(e) },
    signal: stop.signal,
    sink: {
      processed: () => assert.fail("no session, no listing"),
      record: () => assert.fail("no session, no record"),
    },
  });
  await polled.promise;
  stop.abort();
  await loop;
  assert.equal(logged.length, 1);
  const [e] = logged;
  assert.ok(e?.event === "bounce.poll_failed", JSON.stringify(e));
  assert.equal(e.stage, "connect");
  assert.equal(e.mailbox, `bounces@127.0.0.1:${port}`);
  assert.doesNotMatch(JSON.stringify(logged), /pop-password/);
});
