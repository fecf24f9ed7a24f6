/**
 * `delivery.fallbackRelay`: mail whose MX hosts all fail (one refuses the connection, one greets
 * with 421) waits for them while it is younger than `after`, then goes through the fallback
 * relay, a local SMTP server, and the delivery records that host. Mail with a static route never
 * falls back. Time is the relay's fake clock.
 */
import assert from "node:assert/strict";
import { denoConnect } from "../../relay/smtp/mod.ts";
import { esmtp, startScriptedPeer } from "../_fakes/scripted_smtp_peer.ts";
import { freePort } from "../_support/postgres_cluster.ts";
import { mxFarm } from "./_mx.ts";
import { enqueue, startTestRelay, T0 } from "./_relay.ts";

const AFTER_MS = 60 * 60_000;
const STEP_MS = 60_000;
const FALLBACK = "fallback.test";
const FALLBACK_ADDRESS = "127.0.0.99";

/**
 * The fallback server, and a connector that reaches it at FALLBACK_ADDRESS, the farm's hosts at
 * theirs, and anything else (a static route's host) as it is.
 */
function withFallback(farm: ReturnType<typeof mxFarm>) {
  const accepted: number[] = [];
  const server = startScriptedPeer(esmtp({ onMessage: () => accepted.push(farm.clock()) }));
  farm.resolver.set(FALLBACK, { a: [FALLBACK_ADDRESS] });
  const connect: typeof farm.connect = (address, port, signal) =>
    address === FALLBACK_ADDRESS
      ? denoConnect("127.0.0.1", server.port, signal)
      : farm.hosts.some((h) => h.address === address)
      ? farm.connect(address, port, signal)
      : denoConnect(address, port, signal);
  return { server, accepted, connect };
}

Deno.test({
  name: "fallback relay: mail every MX host defers goes through it once it has waited `after`",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using farm = mxFarm("down.test", ["refuses", "greets 421"]);
    const fb = withFallback(farm);
    try {
      await using r = await startTestRelay({
        routes: "",
        config: { delivery: { fallbackRelay: { host: FALLBACK, port: 2525, after: "1h" } } },
        deps: { resolver: farm.resolver, connect: fb.connect },
      });
      farm.clock = () => r.clock.now();
      await enqueue(r, { to: ["a@down.test"] });
      const row = async () =>
        (await r.t.db.selectFrom("ferry.deliveries").selectAll().executeTakeFirst()) ??
          { status: "none", attempts: 0, mx_host: null, last_reply: null };

      // Before `after`: deferred by its MX hosts, the fallback untouched.
      await r.pumpUntil(async () => (await row()).status === "deferred", "first deferral", 1000);
      const deferred = await row();
      assert.match(deferred.last_reply ?? "", /421/);
      assert.equal(deferred.mx_host, "mx2.down.test");
      assert.ok(r.clock.now() - T0 < AFTER_MS);
      assert.deepEqual(fb.accepted, []);

      await r.pumpUntil(
        async () => (await row()).status === "delivered",
        "delivery through the fallback relay",
        STEP_MS,
        (6 * AFTER_MS) / STEP_MS,
        120_000,
      );
      const done = await row();
      assert.equal(fb.accepted.length, 1, "delivered once, at the fallback relay");
      assert.ok(fb.accepted[0]! - T0 >= AFTER_MS, "not before `after`");
      assert.equal(done.mx_host, FALLBACK);
      assert.ok(done.attempts >= 2, `${done.attempts} attempts: deferred before it fell back`);
      assert.deepEqual(farm.accepted, []);
      // Every try before the fallback went to the MX hosts first, each time.
      const hosts = new Set(farm.tries.map((t) => t.host));
      assert.deepEqual([...hosts].sort(), ["mx1.down.test", "mx2.down.test"]);
      console.log(
        `deferred by its MX hosts, delivered through ${FALLBACK} ${
          (fb.accepted[0]! - T0) / 60_000
        } min after queueing (after: ${AFTER_MS / 60_000} min), attempt ${done.attempts}`,
      );
    } finally {
      await fb.server.close();
    }
  },
});

Deno.test({
  name: "fallback relay: mail to a destination with a static route never falls back",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using farm = mxFarm("unused.test", ["accepts"]);
    const fb = withFallback(farm);
    const closed = freePort(); // nothing listens there
    try {
      await using r = await startTestRelay({
        routes: `routed.test=127.0.0.1:${closed}`,
        config: { delivery: { fallbackRelay: { host: FALLBACK, port: 2525, after: "1m" } } },
        deps: { resolver: farm.resolver, connect: fb.connect },
      });
      farm.clock = () => r.clock.now();
      await enqueue(r, { to: ["a@routed.test"] });
      const row = async () =>
        (await r.t.db.selectFrom("ferry.deliveries").selectAll().executeTakeFirst()) ??
          { status: "none", attempts: 0, mx_host: null, last_reply: null };
      await r.pumpUntil(
        async () => (await row()).attempts >= 3,
        "three attempts on the static route",
        STEP_MS,
        600,
        120_000,
      );
      const after = await row();
      assert.equal(after.status, "deferred");
      assert.ok(r.clock.now() - T0 > 60_000);
      assert.deepEqual(fb.accepted, [], "the fallback relay is for MX routing only");
    } finally {
      await fb.server.close();
    }
  },
});
