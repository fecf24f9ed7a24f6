/** The TLS reporting wiring: off without `tlsReports` (or with `enabled: false`), on with it. */
import assert from "node:assert/strict";
import { loadConfig } from "../../../relay/config/config.ts";
import { tlsReporting } from "../../../relay/composition/tls_reports.ts";
import type { LogEvent } from "../../../relay/composition/log.ts";
import { tlsRptCountsFor } from "../../../db/tls_rpt.ts";
import { NO_TLS_RESULTS } from "../../../relay/tls_rpt/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import { testDatabase } from "../../_support/db.ts";

const T0 = Date.UTC(2030, 2, 1, 10);
const SECTION = {
  organizationName: "Ferry Test Org",
  contact: "postmaster@relay.test",
  from: "tlsrpt@relay.test",
};

function config(tlsReports?: Record<string, unknown>) {
  return loadConfig(
    { FERRY_HOSTNAME: "relay.test", FERRY_CONFIG: "ferry.json" },
    () => JSON.stringify(tlsReports ? { tlsReports } : {}),
    () => "relay.test",
  );
}

const health = {
  up: true,
  failed: () => false,
  waitUntilUp: () => Promise.resolve(),
};

Deno.test("without tlsReports, or with enabled: false, results are dropped at once", async () => {
  await using t = await testDatabase();
  for (const c of [config(), config({ ...SECTION, enabled: false })]) {
    const wiring = await tlsReporting({
      config: c,
      database: t,
      clock: new FakeClock(T0),
      logger: { log: () => {} },
      instance: "i1",
      health,
      resolver: new FakeResolver(),
    }, new AbortController().signal);
    assert.equal(wiring.sink, NO_TLS_RESULTS);
    await wiring.run(new AbortController().signal);
  }
});

Deno.test("with tlsReports, results reach ferry.tls_rpt_results and the loop runs", async () => {
  await using t = await testDatabase();
  const clock = new FakeClock(T0);
  const events: LogEvent[] = [];
  const stop = new AbortController();
  const wiring = await tlsReporting({
    config: config(SECTION),
    database: t,
    clock,
    logger: { log: (e) => events.push(e) },
    instance: "i1",
    health,
    resolver: new FakeResolver(),
  }, stop.signal);
  wiring.sink.record({
    domain: "example.com",
    policy: { type: "no-policy-found" },
    outcome: { failure: "starttls-not-supported", receivingIp: "192.0.2.1" },
    at: T0,
  });
  const loop = wiring.run(stop.signal);
  await clock.untilSleeping();
  stop.abort();
  await loop;
  await wiring.flush();
  const rows = await tlsRptCountsFor(t.db, "2030-03-01", "example.com");
  assert.deepEqual(rows.map((r) => [r.policyType, r.resultType, r.receivingIp, r.sessions]), [
    ["no-policy-found", "starttls-not-supported", "192.0.2.1", 1],
  ]);
  assert.deepEqual(events, []);
});
