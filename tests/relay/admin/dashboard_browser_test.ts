/**
 * The dashboard in a real headless Chromium, against a real server and a database with real
 * rows: it must render the queue numbers, the chart and the destinations, then show events that
 * happen while it is open. Leaves tests/e2e/out/dashboard.png (and the DOM beside it).
 */
import assert from "node:assert/strict";
import { adminApp } from "../../../relay/admin/app.ts";
import type { LiveDomainState } from "../../../relay/admin/domain_state.ts";
import { systemClock } from "../../../lib/clock.ts";
import { ingestOutbox } from "../../../db/ingest.ts";
import { testDatabase } from "../../_support/db.ts";
import { insertMany } from "../../_support/outbox.ts";
import { hasChromium, launchChromium } from "./_cdp.ts";
import { settleAll, TOKEN } from "./_helpers.ts";
import { requirePeer } from "../../_support/peers.ts";
import { serverOnly } from "../../_support/db.ts";
import { smtpError, startSmtpServer } from "../smtp/_smtp_server.ts";
import { ADMIN_TOKEN, enqueue, startTestRelay } from "../../e2e/_relay.ts";

const OUT = new URL("../../e2e/out/", import.meta.url);

/** Waits (bounded, ~15 s) until `expression` is true in the page. */
async function until(
  browser: { evaluate<T>(e: string): Promise<T> },
  expression: string,
  what: string,
): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (await browser.evaluate<boolean>(expression)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Cannot see ${what} in the dashboard: ${expression} stayed false`);
}

Deno.test({
  name: "dashboard page shows live queue data in headless Chromium",
  ignore: requirePeer("chromium", !hasChromium()),
}, async () => {
  await using t = await testDatabase();
  const now = new Date();
  await insertMany(t.db, 40, "big.example", now);
  await insertMany(t.db, 12, "small.example", now);
  await ingestOutbox(t.db, { now });
  await settleAll(t.db, now, "delivered", 20);
  await settleAll(t.db, now, "deferred", 6);
  await settleAll(t.db, now, "bounced", 2);
  const live: LiveDomainState[] = [{
    domain: "big.example",
    state: "sending",
    inFlight: 4,
    connections: 3,
    rateBudget: { available: 80, capacity: 100, rate: "100/m" },
  }];
  const stop = new AbortController();
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      signal: stop.signal,
      onListen: () => {},
    },
    adminApp({
      db: t.db,
      token: TOKEN,
      ready: () => ({ ready: true }),
      clock: systemClock,
      eventPollMs: 100,
      domains: { domainState: () => live },
      alerts: {
        active: () => [{
          name: "bounce_rate",
          domain: null,
          value: 0.07,
          threshold: 0.05,
          message: "7.1% of 28 outcomes in the last 15m bounced (threshold 5.0%)",
          since: now,
        }],
      },
    }).fetch,
  );
  try {
    await using browser = await launchChromium();
    await browser.send("Page.enable");
    await browser.send("Emulation.setDeviceMetricsOverride", {
      width: 1280,
      height: 900,
      deviceScaleFactor: 1,
      mobile: false,
    });
    const base = `http://127.0.0.1:${server.addr.port}`;
    await browser.send("Page.navigate", { url: `${base}/dashboard?refresh=500#token=${TOKEN}` });
    await until(browser, `document.body.dataset.ready === "1"`, "the first numbers");
    await until(browser, `document.getElementById("conn").className === "live"`, "the stream");

    // While the page is open, the relay delivers more: the stream and the numbers follow.
    await settleAll(t.db, new Date(), "delivered", 10);
    await until(browser, `Number(document.body.dataset.events) >= 10`, "the live events");
    await until(
      browser,
      `document.querySelector("#count-delivered .value").textContent === "30"`,
      "the new delivered count",
    );
    const counts = await browser.evaluate<Record<string, string>>(`Object.fromEntries(
      [...document.querySelectorAll("#counts .card")].map((c) =>
        [c.id.slice(6), c.querySelector(".value").textContent]))`);
    assert.deepEqual(counts, {
      queued: "14",
      sending: "0",
      deferred: "6",
      delivered: "30",
      bounced: "2",
      expired: "0",
      cancelled: "0",
      suppressed: "0",
      rejected: "0",
    });
    const rows = await browser.evaluate<string[][]>(`[...document.querySelectorAll("#domains tr")]
      .map((tr) => [...tr.children].map((td) => td.textContent))`);
    const waiting = async (status: "queued" | "deferred") =>
      String(
        (await t.db.selectFrom("ferry.deliveries").select((eb) => eb.fn.countAll().as("n"))
          .where("domain", "=", "big.example").where("status", "=", status)
          .executeTakeFirstOrThrow()).n,
      );
    assert.deepEqual(rows[0]!.slice(0, 8), [
      "big.example",
      await waiting("queued"),
      await waiting("deferred"),
      "0",
      "sending",
      "3 / — / —",
      "100/m · 80/100 free",
      "",
    ]);
    assert.equal(rows[1]![0], "small.example");
    assert.match(
      await browser.evaluate<string>(`document.getElementById("alerts").textContent`),
      /bounce_rate/,
    );
    const points = await browser.evaluate<string>(
      `document.getElementById("series-delivered").getAttribute("points")`,
    );
    assert.ok(points.split(" ").length >= 90, "15 minutes of 10 s buckets");
    const latest = await browser.evaluate<string>(
      `document.querySelector("#events li").textContent`,
    );
    assert.match(latest, /delivered +r\d+@(big|small)\.example/);
    assert.match(latest, /\[tls mta-sts enforce, verified\]$/, "the attempt's TLS decision");

    const shot = await browser.send("Page.captureScreenshot", { format: "png" });
    const png = Uint8Array.from(atob(shot.data as string), (c) => c.charCodeAt(0));
    await Deno.mkdir(OUT, { recursive: true });
    await Deno.writeFile(new URL("dashboard.png", OUT), png);
    await Deno.writeTextFile(
      new URL("dashboard.html", OUT),
      await browser.evaluate<string>("document.documentElement.outerHTML"),
    );
    assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], "a PNG");
    assert.ok(png.length > 30_000, `a real picture, not a blank page: ${png.length} bytes`);
  } finally {
    stop.abort();
    await server.finished;
  }
});

Deno.test({
  name:
    "dashboard page shows a running relay's budget, concurrency and throttled state per destination",
  ignore: requirePeer("chromium", !hasChromium()) || serverOnly,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  // A receiver that throttles every message the way Gmail does (421/451 4.7.28).
  const THROTTLE = "4.7.28 Our system has detected an unusual rate of unsolicited mail";
  await using server = await startSmtpServer({
    onRcptTo(_a, _s, cb) {
      cb(smtpError(451, THROTTLE));
    },
  });
  await using r = await startTestRelay({
    routes: `*=127.0.0.1:${server.port}`,
    config: {
      domains: {
        "throttled.test": { rates: ["100/m"], maxConnections: 3, initialConnections: 2 },
      },
    },
    operations: true,
  });
  for (let i = 0; i < 6; i++) await enqueue(r, { to: [`u${i}@throttled.test`] });
  await r.pumpUntil(
    () => r.events.some((e) => e.event === "domain.slowed"),
    "the receiver's slow-down",
    10,
    1_000,
  );
  // Time stands still from here: the destination stays paused while the page reads it.
  const stop = new AbortController();
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: stop.signal, onListen: () => {} },
    r.ops!.app.fetch,
  );
  try {
    const base = `http://127.0.0.1:${http.addr.port}`;
    // The JSON route the dashboard reads carries the same values.
    const res = await fetch(`${base}/api/v1/domains`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const body = await res.json();
    const live = body.domains.find((d: { domain: string }) => d.domain === "throttled.test").live;
    assert.equal(live.connection_max, 3);
    assert.ok(live.connection_limit >= 1 && live.connection_limit <= 3);
    assert.equal(live.rate_budget.rate, "100/m");
    assert.equal(typeof live.rate_budget.adaptive_per_second, "number", "the rate was cut");
    assert.ok(new Date(live.rate_budget.next_free_at).getTime() >= r.clock.now() - 1);
    assert.ok(new Date(live.paused_until).getTime() > r.clock.now(), "paused after the reply");
    assert.match(live.last_throttle.text, /451 4\.7\.28 Our system has detected/);
    assert.equal(new Date(live.last_throttle.at).getTime() <= r.clock.now(), true);

    await using browser = await launchChromium();
    await browser.send("Page.enable");
    await browser.send("Emulation.setDeviceMetricsOverride", {
      width: 1400,
      height: 900,
      deviceScaleFactor: 1,
      mobile: false,
    });
    await browser.send("Page.navigate", {
      url: `${base}/dashboard?refresh=500#token=${ADMIN_TOKEN}`,
    });
    await until(
      browser,
      `!!document.querySelector('#domains tr[data-domain="throttled.test"]')`,
      "the throttled destination",
    );
    const row = await browser.evaluate<Record<string, string>>(`Object.fromEntries(
      [...document.querySelector('#domains tr[data-domain="throttled.test"]').children]
        .map((td) => [td.dataset.col, td.title]))`);
    const time = (at: string | number) =>
      browser.evaluate<string>(`new Date(${JSON.stringify(at)}).toLocaleTimeString()`);
    assert.equal(row.concurrency, `${live.connections} / ${live.connection_limit} / 3`);
    assert.equal(
      row.budget,
      `100/m · adaptive ${live.rate_budget.adaptive_per_second.toFixed(2)}/s · ` +
        (live.rate_budget.available > 0
          ? `${live.rate_budget.available} free`
          : `next ${await time(live.rate_budget.next_free_at)}`),
    );
    assert.equal(
      row.throttled,
      `paused until ${await time(live.paused_until)} · ${await time(
        live.last_throttle.at,
      )} ${live.last_throttle.text}`,
    );
    const shot = await browser.send("Page.captureScreenshot", { format: "png" });
    await Deno.mkdir(OUT, { recursive: true });
    await Deno.writeFile(
      new URL("dashboard_throttled.png", OUT),
      Uint8Array.from(atob(shot.data as string), (c) => c.charCodeAt(0)),
    );
  } finally {
    stop.abort();
    await http.finished;
  }
});
