/**
 * MX failover, measured: a destination with two or three MX hosts whose first (or first two)
 * misbehave in one way each; the mail must end at the next working host, once, within the time
 * the README documents for that way of failing (how long Ferry tries a host before moving on):
 *
 * | the host                      | Ferry moves on after                               |
 * | ----------------------------- | -------------------------------------------------- |
 * | refuses the connection        | at once                                            |
 * | greets with 421 or 554        | at once (after QUIT)                               |
 * | tempfails every RCPT          | at once, in the same attempt (RFC 5321 §5.1)       |
 * | never completes the connect   | the connect timeout, 30 s                          |
 * | connects but never greets     | the greeting timeout, 5 min (RFC 5321 §4.5.3.2.1)  |
 *
 * Time is the relay's fake clock, moved a second at a time.
 */
import assert from "node:assert/strict";
import { DEFAULT_TIMEOUTS } from "../../relay/smtp/mod.ts";
import { type MxBehaviour, mxFarm } from "./_mx.ts";
import { enqueue, startTestRelay } from "./_relay.ts";

const STEP_MS = 1_000;

/** How long Ferry spends on one host that fails this way before it tries the next. */
const MOVES_ON_AFTER: Record<Exclude<MxBehaviour, "accepts">, number> = {
  "refuses": 0,
  "greets 421": 0,
  "greets 554": 0,
  "tempfails RCPT": 0,
  "never connects": DEFAULT_TIMEOUTS.connect,
  "never greets": DEFAULT_TIMEOUTS.greeting,
};

async function failover(bad: Exclude<MxBehaviour, "accepts">, badHosts: number) {
  const behaviours: MxBehaviour[] = [...Array(badHosts).fill(bad), "accepts"];
  await using farm = mxFarm("fail.test", behaviours);
  await using r = await startTestRelay({
    routes: "",
    deps: { resolver: farm.resolver, connect: farm.connect },
  });
  farm.clock = () => r.clock.now();
  r.io.park(() => farm.parked());
  await enqueue(r, { to: ["a@fail.test"] });
  const bound = MOVES_ON_AFTER[bad] * badHosts;
  await r.pumpUntil(
    async () => (await r.statuses())["a@fail.test"] === "delivered",
    `delivery through ${behaviours.join(", ")}`,
    STEP_MS,
    bound / STEP_MS + 120,
    120_000,
  );
  const row = await r.t.db.selectFrom("ferry.deliveries").selectAll().executeTakeFirstOrThrow();
  const good = farm.hosts.at(-1)!.name;
  const first = farm.tries[0]!;
  const took = farm.accepted[0]!.at - first.at;
  const order = [...new Set(farm.tries.map((t) => t.host))];
  console.log(
    `${badHosts + 1} MX, ${badHosts === 1 ? "the first" : `the first ${badHosts}`} ${bad}: ` +
      `delivered at ${good} ${took / 1000} s after the first try (documented: ${bound / 1000} s)`,
  );
  assert.deepEqual(order, farm.hosts.map((h) => h.name), "each host in preference order");
  assert.deepEqual(farm.accepted.map((a) => a.host), [good], "delivered once, at the good host");
  assert.equal(row.mx_host, good);
  assert.equal(row.attempts, 1, "within the first attempt: no deferral");
  assert.ok(took >= bound, `${took} ms: moved on before the documented ${bound} ms`);
  assert.ok(took <= bound + 2 * STEP_MS, `${took} ms: later than the documented ${bound} ms`);
}

for (const bad of Object.keys(MOVES_ON_AFTER) as Exclude<MxBehaviour, "accepts">[]) {
  for (const badHosts of [1, 2]) {
    Deno.test({
      name: `MX failover: ${badHosts + 1} MX hosts, the first ${
        badHosts === 1 ? "" : "two "
      }${bad}: delivered at the last`,
      sanitizeResources: false,
      sanitizeOps: false,
      fn: () => failover(bad, badHosts),
    });
  }
}
