/** A destination whose MX refuses connections is marked unreachable and its queue waits. */
import assert from "node:assert/strict";
import { freePort } from "../_support/postgres_cluster.ts";
import { enqueue, startTestRelay } from "./_relay.ts";

Deno.test({
  name: "relay marks an unreachable destination and defers its mail instead of hammering it",
  async fn() {
    const closed = freePort(); // nothing listens there
    await using r = await startTestRelay({ routes: `down.test=127.0.0.1:${closed}` });
    await enqueue(r, { to: ["a@down.test", "b@down.test"] });
    await r.pumpUntil(
      async () => {
        const s = await r.statuses();
        return s["a@down.test"] === "deferred" && s["b@down.test"] === "deferred";
      },
      "deferral",
      250,
      2000,
    );
    const unreachable = r.events.filter((e) => e.event === "domain.unreachable");
    assert.equal(unreachable.length, 1);
    const rows = await r.t.db.selectFrom("ferry.deliveries").selectAll().execute();
    for (const row of rows) {
      assert.match(row.last_reply!, /cannot connect to 127\.0\.0\.1/);
      assert.ok(new Date(row.next_attempt_at).getTime() > r.clock.now());
    }
  },
});
