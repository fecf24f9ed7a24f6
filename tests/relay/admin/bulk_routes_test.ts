import assert from "node:assert/strict";
import { ingestOutbox } from "../../../db/ingest.ts";
import type { Db } from "../../../db/client.ts";
import { insertMany } from "../../_support/outbox.ts";
import { fixture } from "./_helpers.ts";
import { parsePrometheus } from "../metrics/_prometheus.ts";

async function ingestAll(db: Db, now: Date): Promise<void> {
  for (let i = 0; i < 20; i++) {
    if ((await ingestOutbox(db, { now, limit: 5000 })).rows === 0) return;
  }
}

async function statusCounts(db: Db, domain: string): Promise<Record<string, number>> {
  const rows = await db.selectFrom("ferry.deliveries")
    .select(["status", (eb) => eb.fn.countAll<number>().as("n")])
    .where("domain", "=", domain).groupBy("status").execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

Deno.test("POST /api/v1/bulk/cancel counts, then cancels thousands of rows in batches", async () => {
  await using f = await fixture();
  const now = new Date(f.clock.now());
  await insertMany(f.db, 4000, "big.test", now);
  await insertMany(f.db, 300, "small.test", now);
  await ingestAll(f.db, now);

  const dry = await (await f.call("POST", "/api/v1/bulk/cancel", {
    domain: "big.test",
    dryRun: true,
  })).json();
  assert.equal(dry.matched, 4000);
  assert.equal(dry.dryRun, true);
  assert.deepEqual(
    await statusCounts(f.db, "big.test"),
    { queued: 4000 },
    "a dry run changes nothing",
  );

  // A client showing progress asks for 1500 at a time, frozen at the dry run's maxId.
  const progress: number[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await (await f.call("POST", "/api/v1/bulk/cancel", {
      domain: "big.test",
      maxId: dry.maxId,
      limit: 1500,
      reason: "spam run",
    })).json();
    progress.push(r.affected);
    if (r.done) break;
  }
  assert.deepEqual(progress, [1500, 1500, 1000]);
  assert.deepEqual(await statusCounts(f.db, "big.test"), { cancelled: 4000 });
  assert.deepEqual(await statusCounts(f.db, "small.test"), { queued: 300 });
  const events = await f.db.selectFrom("ferry.events")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("kind", "=", "cancelled").where("reply", "=", "spam run").executeTakeFirstOrThrow();
  assert.equal(Number(events.n), 4000);
  const scrape = parsePrometheus(await (await f.app.request("/metrics")).text());
  assert.equal(scrape.get('ferry_deliveries_total{outcome="cancelled"}'), 4000);

  // And back: retry of cancelled rows by name.
  const back = await (await f.call("POST", "/api/v1/bulk/retry", {
    domain: "big.test",
    status: ["cancelled"],
  })).json();
  assert.deepEqual(back, { action: "retry", dryRun: false, affected: 4000, done: true });
  assert.deepEqual(await statusCounts(f.db, "big.test"), { queued: 4000 });
});

Deno.test("POST /api/v1/bulk/retry makes deferred rows due and leaves scheduled mail alone", async () => {
  await using f = await fixture();
  const now = new Date(f.clock.now());
  await insertMany(f.db, 2500, "slow.test", now);
  await insertMany(f.db, 10, "later.test", new Date(now.getTime() + 3_600_000));
  await ingestAll(f.db, now);
  await f.db.updateTable("ferry.deliveries")
    .set({ status: "deferred", attempts: 1, next_attempt_at: new Date(now.getTime() + 900_000) })
    .where("domain", "=", "slow.test").execute();

  const dry = await (await f.call("POST", "/api/v1/bulk/retry", { all: true, dryRun: true }))
    .json();
  assert.equal(dry.matched, 2500, "deferred only by default");
  const r = await (await f.call("POST", "/api/v1/bulk/retry", { all: true })).json();
  assert.equal(r.affected, 2500);
  const due = await f.db.selectFrom("ferry.deliveries")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("next_attempt_at", "<=", now).executeTakeFirstOrThrow();
  assert.equal(Number(due.n), 2500);
  const again = await (await f.call("POST", "/api/v1/bulk/retry", { all: true, dryRun: true }))
    .json();
  assert.equal(again.matched, 0, "rows already due are not retried twice");
});

Deno.test("POST /api/v1/bulk/* refuses a missing filter and statuses it cannot act on", async () => {
  await using f = await fixture();
  const cases: [string, unknown, RegExp, string][] = [
    ["cancel", {}, /without a filter/, "all"],
    ["cancel", { status: ["delivered"] }, /cannot cancel delivered/, "status"],
    ["retry", { status: ["suppressed"] }, /cannot retry suppressed/, "status"],
    ["retry", { status: [] }, /'status'/, "status"],
    ["cancel", { domain: "not a domain" }, /'domain'/, "domain"],
    ["cancel", { all: true, limit: 0 }, /'limit'/, "limit"],
    ["cancel", { all: true, dry_run: true }, /unknown field/, ""],
  ];
  for (const [action, body, message, field] of cases) {
    const res = await f.call("POST", `/api/v1/bulk/${action}`, body);
    assert.equal(res.status, 400, JSON.stringify(body));
    const err = await res.json();
    assert.match(err.error, message);
    assert.equal(err.field ?? "", field);
  }
});
