/**
 * A kill between the database commit and DELE: the bounce loop is stopped right after the sink
 * committed (the POP3 session drops without QUIT, so Dovecot deletes nothing), then started
 * again. Nothing is lost (the DSN's outcome is committed, the message still in the mailbox) and
 * nothing is counted twice (the second run finds the marker, deletes the message, records
 * nothing).
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import type { BounceEvent } from "../../relay/bounce_processing/events.ts";
import type { BounceRecord } from "../../relay/bounce_processing/sink.ts";
import type { PollReport } from "../../relay/bounce_processing/poll_report.ts";
import { encodeVerp } from "../../relay/bounce_parsing/mod.ts";
import { startBounceLoop } from "../../relay/bounce_processing/wiring.ts";
import { PgBounceSink } from "../../relay/bounce_processing/pg_sink.ts";
import { loadConfig } from "../../relay/config/config.ts";
import type { Db } from "../../db/client.ts";
import { ingestOutbox } from "../../db/ingest.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";
import { dovecotAvailable, startDovecot } from "../_peers/dovecot.ts";
import { testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";
import { postfixDsn } from "./_dsn.ts";
import { T0 } from "./_relay.ts";
import { requirePeer } from "../_support/peers.ts";

const VERP = {
  prefix: "bounces",
  domain: "bounce.ferry.test",
  secret: "e2e-verp-secret-0123456789",
};

Deno.test({
  name: "startBounceLoop() killed between commit and DELE loses nothing and counts nothing twice",
  ignore: requirePeer("dovecot", !dovecotAvailable),
  async fn() {
    await using dovecot = await startDovecot();
    await using t = await testDatabase();
    const clock = new FakeClock(T0);
    const config = loadConfig(
      { FERRY_HOSTNAME: "relay.test", FERRY_CONFIG: "test.json" },
      () =>
        JSON.stringify({
          bounce: {
            host: dovecot.host,
            port: dovecot.pop3Port,
            tls: "none",
            auth: "apop",
            username: dovecot.user,
            password: dovecot.password,
            verp: VERP,
          },
        }),
      () => "relay.test",
    );
    const outboxId = await insertOutbox(t.db, {
      to_addresses: ["ada@x.test"],
      created_at: new Date(T0),
    });
    await ingestOutbox(t.db, { now: new Date(T0) });
    await sql`UPDATE ferry.deliveries SET status = 'delivered', last_code = 250
               WHERE outbox_id = ${outboxId}`.execute(t.db);
    const { id } = await t.db.selectFrom("ferry.deliveries").select("id")
      .executeTakeFirstOrThrow();
    const original = new TextEncoder().encode(
      `From: sender@ferry.test\r\nTo: ada@x.test\r\nSubject: hello\r\n` +
        `Message-ID: <app.1@ferry.test>\r\n\r\nbody\r\n`,
    );
    await dovecot.deliver(
      "dsn.eml",
      postfixDsn({ returnPath: encodeVerp(id, VERP), recipient: "ada@x.test", original }),
    );
    const logger = { log: () => {} };

    // Run 1: "killed" right after the commit, before DELE.
    const kill = new AbortController();
    const real = new PgBounceSink(t.db, { suppression: { hardBounceMs: null, complaintMs: null } });
    const crashing = {
      processed: (mailbox: string, uidls: readonly string[]) => real.processed(mailbox, uidls),
      async record(record: BounceRecord) {
        const result = await real.record(record);
        kill.abort();
        return result;
      },
    };
    const first: PollReport[] = [];
    await startBounceLoop({
      config,
      database: t,
      clock,
      logger,
      signal: kill.signal,
      sink: crashing,
      log: (e) => e.kind === "bounce.poll_finished" && first.push(e.report),
    });
    assert.deepEqual(first.map((p) => [p.kind, p.counts.recorded, p.counts.deleted]), [
      ["aborted", 1, 0],
    ]);
    assert.equal(await dovecot.count(), 1, "the message is still in the mailbox");
    assert.equal(await count(t.db, "bounce_messages"), 1, "its outcome is committed");
    assert.equal(await count(t.db, "events"), 1);

    // Run 2: the marker is found, the message deleted, nothing recorded again.
    const stop = new AbortController();
    const second: PollReport[] = [];
    const polled = Promise.withResolvers<void>();
    const loop = startBounceLoop({
      config,
      database: t,
      clock,
      logger,
      signal: stop.signal,
      log: (e: BounceEvent) => {
        if (e.kind !== "bounce.poll_finished") return;
        second.push(e.report);
        polled.resolve();
      },
    });
    await polled.promise;
    stop.abort();
    await loop;
    const [report] = second;
    assert.equal(report!.kind, "completed");
    assert.equal(report!.counts.alreadyProcessed, 1);
    assert.equal(report!.counts.recorded, 0);
    assert.equal(report!.counts.deleted, 1);
    assert.equal(await dovecot.count(), 0, "deleted at QUIT");
    assert.equal(await count(t.db, "bounce_messages"), 1);
    assert.equal(await count(t.db, "events"), 1, "one bounce, counted once");
    assert.equal(await count(t.db, "suppressions"), 1);
    const d = await t.db.selectFrom("ferry.deliveries").selectAll().executeTakeFirstOrThrow();
    assert.equal(d.status, "bounced");
    assert.equal(d.bounce_class, "invalid_recipient");
  },
});

async function count(db: Db, table: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM ${sql.table(`ferry.${table}`)}`.execute(db);
  return rows[0]!.n;
}
