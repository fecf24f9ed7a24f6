/**
 * Per-sender limits, measured at a real SMTP receiver on loopback. A noisy sender limited to
 * 10/s sends a backlog to two destinations (more than an actor's queue holds), and a quiet,
 * unlimited sender sends a few messages to the same destinations behind it: the receiver never
 * sees more than 10 of the noisy sender's messages in any second across both destinations, and
 * the quiet sender's mail goes through at once, not behind the noisy backlog. The same holds for
 * a tenant tag, and for two instances on one database sharing the noisy sender's budget.
 */
import assert from "node:assert/strict";
import { acquireLeases, domainLease } from "../../db/leases.ts";
import { serverOnly } from "../_support/db.ts";
import { startSmtpServer } from "../relay/smtp/_smtp_server.ts";
import { ADMIN_TOKEN, enqueue, startTestRelay, type TestRelay } from "./_relay.ts";

/** Fake time per pump step: well below the noisy sender's 102 ms spacing. */
const STEP_MS = 20;
const DESTINATIONS = ["a.test", "b.test"];
/** Per destination: more than an actor of 4 connections holds (80). */
const NOISY_PER_DESTINATION = 100;

interface Arrival {
  readonly at: number;
  readonly from: string;
}

/** The most arrivals of `from` in any window of `ms`. */
function worstWindow(arrivals: readonly Arrival[], from: string, ms: number): number {
  const times = arrivals.filter((a) => a.from === from).map((a) => a.at).sort((a, b) => a - b);
  let worst = 0;
  for (const t of times) worst = Math.max(worst, times.filter((u) => u >= t && u < t + ms).length);
  return worst;
}

async function receiver() {
  const arrivals: Arrival[] = [];
  let now = () => 0;
  const server = await startSmtpServer({
    onMailFrom(address, _s, cb) {
      arrivals.push({ at: now(), from: address.address.split("@")[1]! });
      cb();
    },
  });
  return { server, arrivals, setClock: (r: TestRelay) => (now = () => r.clock.now()) };
}

const DOMAINS = { "*": { maxConnections: 4, initialConnections: 4 } };

/** Enqueues the noisy backlog first, then the quiet sender's mail; returns when it was queued. */
async function load(
  r: TestRelay,
  noisy: { from: string; metadata?: Record<string, unknown> },
  quietCount: number,
): Promise<number> {
  for (let i = 0; i < NOISY_PER_DESTINATION; i++) {
    for (const d of DESTINATIONS) await enqueue(r, { ...noisy, to: [`n${i}@${d}`] });
  }
  for (let i = 0; i < quietCount; i++) {
    const d = DESTINATIONS[i % DESTINATIONS.length];
    await enqueue(r, { from: "Quiet <app@quiet.example>", to: [`q${i}@${d}`] });
  }
  return r.clock.now();
}

Deno.test({
  name: "relay keeps a sender's 10/s rate across destinations, and quiet senders are not held up",
  ignore: serverOnly,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const rx = await receiver();
    await using _server = rx.server;
    await using r = await startTestRelay({
      routes: `*=127.0.0.1:${rx.server.port}`,
      config: { domains: DOMAINS, senders: { "noisy.example": { rate: "10/s" } } },
      operations: true,
    });
    rx.setClock(r);
    const start = await load(r, { from: "Noisy <app@noisy.example>" }, 6);
    const count = (from: string) => rx.arrivals.filter((a) => a.from === from).length;
    await r.pumpUntil(
      () => count("quiet.example") === 6 && count("noisy.example") >= 40,
      "the quiet mail and 40 noisy ones",
      STEP_MS,
      2_000,
      90_000,
    );
    const quietLast = Math.max(
      ...rx.arrivals.filter((a) => a.from === "quiet.example").map((a) => a.at),
    );
    const worst = worstWindow(rx.arrivals, "noisy.example", 1_000);
    console.log(
      `noisy: ${count("noisy.example")} in ${(r.clock.now() - start) / 1000} s, at most ${worst} ` +
        `in any 1 s; quiet: all 6 within ${(quietLast - start) / 1000} s`,
    );
    assert.ok(worst <= 10, `${worst} noisy messages in one second`);
    assert.ok(worst >= 8, `the noisy sender still gets its rate: ${worst} in its best second`);
    assert.ok(quietLast - start <= 1_000, `quiet mail waited ${quietLast - start} ms`);
    // Nothing of the wait is an attempt: the noisy mail still queued has no attempts counted.
    const rows = await r.t.db.selectFrom("ferry.deliveries").select(["attempts", "last_reply"])
      .where("recipient", "like", "n%").where("status", "in", ["queued", "deferred"]).execute();
    assert.ok(rows.length > 0, "noisy mail still waits");
    assert.deepEqual(rows.filter((d) => d.attempts > 0 || d.last_reply !== null), []);
    // The waiting is visible: a counter per sender and reason.
    const text = await r.ops!.metrics.render();
    const waits = /ferry_sender_waits_total\{sender="noisy.example",reason="rate"\} (\d+)/.exec(
      text,
    );
    assert.ok(waits && Number(waits[1]) > 0, "ferry_sender_waits_total counts the waits");
    assert.doesNotMatch(text, /sender="quiet.example"/);
    // And in the admin API, per sender.
    const res = await r.ops!.app.fetch(
      new Request("http://relay.test/api/v1/senders", {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      }),
    );
    const body = await res.json();
    assert.equal(body.live, true);
    assert.equal(body.senders.length, 1);
    const [noisy] = body.senders;
    assert.deepEqual([noisy.sender, noisy.rates, noisy.max_connections], [
      "noisy.example",
      ["10/s"],
      null,
    ]);
    assert.ok(noisy.waits > 0, `waits: ${noisy.waits}`);
    assert.equal(noisy.waits, Number(waits![1]), "the same count as the metric");
  },
});

Deno.test({
  name: "relay limits a tenant tagged in metadata, whatever its From domain",
  ignore: serverOnly,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const rx = await receiver();
    await using _server = rx.server;
    await using r = await startTestRelay({
      routes: `*=127.0.0.1:${rx.server.port}`,
      config: {
        domains: DOMAINS,
        delivery: { tenantKey: "customer" },
        senders: { "tenant:acme": { rate: "10/s" } },
      },
    });
    rx.setClock(r);
    // The tenant's mail comes from a shared domain; the quiet sender is untagged.
    const start = await load(r, {
      from: "Acme <acme@noisy.example>",
      metadata: { customer: "acme" },
    }, 6);
    const count = (from: string) => rx.arrivals.filter((a) => a.from === from).length;
    await r.pumpUntil(
      () => count("quiet.example") === 6 && count("noisy.example") >= 30,
      "the quiet mail and 30 of the tenant's",
      STEP_MS,
      2_000,
      90_000,
    );
    const worst = worstWindow(rx.arrivals, "noisy.example", 1_000);
    const quietLast = Math.max(
      ...rx.arrivals.filter((a) => a.from === "quiet.example").map((a) => a.at),
    );
    assert.ok(worst <= 10, `${worst} of the tenant's messages in one second`);
    assert.ok(quietLast - start <= 1_000, `quiet mail waited ${quietLast - start} ms`);
  },
});

Deno.test({
  name: "two relay instances together keep a sender's 10/s rate",
  ignore: serverOnly,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const rx = await receiver();
    await using _server = rx.server;
    const config = { domains: DOMAINS, senders: { "noisy.example": { rate: "10/s" } } };
    const routes = `*=127.0.0.1:${rx.server.port}`;
    await using a = await startTestRelay({ routes, config, instance: "a" });
    await using b = await startTestRelay({ routes, config, instance: "b", peer: a });
    rx.setClock(a);
    // Each instance gets one destination's lease: both send the noisy sender's mail at once.
    const lease = { now: new Date(a.clock.now()), ttlMs: 3_600_000 };
    await acquireLeases(a.t.db, [domainLease("a.test")], { ...lease, owner: "a" });
    await acquireLeases(a.t.db, [domainLease("b.test")], { ...lease, owner: "b" });
    await load(a, { from: "Noisy <app@noisy.example>" }, 0);
    const count = () => rx.arrivals.length;
    await a.pumpUntil(() => count() >= 40, "40 noisy messages", STEP_MS, 2_000, 90_000);
    const worst = worstWindow(rx.arrivals, "noisy.example", 1_000);
    const sent = (domain: string) =>
      a.t.db.selectFrom("ferry.deliveries").select("id").where("domain", "=", domain)
        .where("status", "=", "delivered").execute().then((rows) => rows.length);
    console.log(`two instances: at most ${worst} in any 1 s`);
    assert.ok(worst <= 10, `${worst} noisy messages in one second`);
    assert.ok((await sent("a.test")) > 0 && (await sent("b.test")) > 0, "both instances sent");
    const by = await a.t.db.selectFrom("ferry.events").select("instance")
      .where("kind", "=", "delivered").execute();
    assert.deepEqual(new Set(by.map((e) => e.instance)), new Set([a, b].map((_, i) => "ab"[i])));
  },
});

Deno.test({
  name:
    "relay keeps a sender's maxConnections: its transactions in flight at once, across destinations",
  ignore: serverOnly,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Counts the busy sender's transactions between MAIL FROM and the end of DATA; each is held
    // open until the relay's fake time moves, so they overlap unless the cap keeps them apart.
    let open = 0;
    let most = 0;
    let quietMost = 0;
    let quietOpen = 0;
    const rx = await startSmtpServer({
      onMailFrom(address, session, cb) {
        const busy = address.address.endsWith("@busy.example");
        (session as unknown as { busy: boolean }).busy = busy;
        if (busy) most = Math.max(most, ++open);
        else quietMost = Math.max(quietMost, ++quietOpen);
        cb();
      },
      onData(stream, session, cb) {
        stream.on("data", () => {});
        stream.on("end", () => {
          setTimeout(() => {
            if ((session as unknown as { busy: boolean }).busy) open--;
            else quietOpen--;
            cb();
          }, 20);
        });
      },
    });
    await using _server = rx;
    await using r = await startTestRelay({
      routes: `*=127.0.0.1:${rx.port}`,
      config: {
        domains: DOMAINS,
        senders: { "busy.example": { maxConnections: 2 } },
      },
    });
    for (let i = 0; i < 12; i++) {
      for (const d of ["a.test", "b.test", "c.test"]) {
        await enqueue(r, { from: "busy@busy.example", to: [`b${i}@${d}`] });
        await enqueue(r, { from: "app@quiet.example", to: [`q${i}@${d}`] });
      }
    }
    await r.pumpUntil(
      async () => Object.values(await r.statuses()).filter((s) => s === "delivered").length === 72,
      "all 72 delivered",
      10,
      3_000,
      90_000,
    );
    console.log(`busy.example: at most ${most} at once; quiet.example: ${quietMost}`);
    assert.ok(most <= 2, `${most} transactions of busy.example at once`);
    assert.equal(most, 2, "the cap is used");
    assert.ok(quietMost > 2, `other senders are not capped: ${quietMost} at once`);
  },
});
