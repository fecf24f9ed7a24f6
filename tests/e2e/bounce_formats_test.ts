/**
 * Every real-shaped bounce format in tests/_fixtures/bounces/ (Postfix, Exim, qmail, Gmail,
 * Microsoft 365 / Exchange DSNs, an ARF complaint, an auto-reply and a person's reply), in a real
 * Dovecot mailbox read over POP3S, recorded by the real PostgreSQL sink: each ends on the
 * delivery it was about, with its class, and what cannot be matched is kept and counted.
 *
 * The fixtures name deliveries 1001-1010 and 2001 (VERP ids and Message-IDs): the database's
 * identity sequences are set so the rows get exactly those ids. The fixtures' Message-ID hashes
 * are placeholders; they are replaced with the real ones for those rows, so the Message-ID
 * fallback (Exim's bounce has no VERP) is checked the way production checks it.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { pollMailbox } from "../../relay/bounce_processing/processor.ts";
import { Secret } from "../../lib/secret.ts";
import { PgBounceSink } from "../../relay/bounce_processing/pg_sink.ts";
import { messageIdFor } from "../../relay/mime/message_id.ts";
import { openPop3 } from "../../relay/pop3/mod.ts";
import type { Db } from "../../db/client.ts";
import { ingestOutbox } from "../../db/ingest.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";
import { dovecotAvailable, startDovecot } from "../_peers/dovecot.ts";
import { testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";
import {
  EXPECTED,
  readSample,
  SAMPLE_VERP,
  sampleNames,
} from "../relay/bounce_parsing/_samples.ts";
import { requirePeer } from "../_support/peers.ts";

const T0 = Date.UTC(2030, 2, 1, 10);
const DAY = 86_400_000;
const MID_DOMAIN = "mail.ferry.test";
/** Failures about the message, not the address: bounced, never suppressed. */
const NOT_ABOUT_THE_ADDRESS = new Set(["spam_or_policy", "message_too_large", "mailbox_full"]);

/** The delivery id each sample is about (its VERP id, else its Message-ID's outbox id). */
function idOf(name: string): number | undefined {
  const want = EXPECTED[name]!;
  if (want.kind === "unrecognised" && !want.originalMessageId) return undefined;
  const verp = want.kind === "unrecognised" ? undefined : want.verpId;
  return Number(verp ?? /ferry\.(\d+)\./.exec(want.originalMessageId!)![1]);
}

function recipientOf(name: string): string {
  const want = EXPECTED[name]!;
  return want.kind === "unrecognised" ? "news@shop.example.com" : want.recipient;
}

/** The sample with its placeholder Message-ID hashes replaced by the real ones. */
function withRealMessageIds(name: string): string {
  return new TextDecoder().decode(readSample(name)).replace(
    /ferry\.(\d+)\.[0-9a-f]+@mail\.ferry\.test/g,
    (_, id: string) => messageIdFor(id, T0, MID_DOMAIN).slice(1, -1),
  );
}

/** One outbox row and one delivery, both with id `id`, accepted (250) by the receiver. */
async function deliveredWithId(db: Db, id: number, recipient: string): Promise<void> {
  for (const table of ["ferry.outbox", "ferry.deliveries"]) {
    await sql`SELECT setval(pg_get_serial_sequence(${table}, 'id'), ${id - 1})`.execute(db);
  }
  const outboxId = await insertOutbox(db, { to_addresses: [recipient], created_at: new Date(T0) });
  assert.equal(outboxId, id);
  await ingestOutbox(db, { now: new Date(T0) });
  const { rows } = await sql<{ id: number }>`
    UPDATE ferry.deliveries SET status = 'delivered', last_code = 250, delivered_at = ${new Date(
    T0,
  )}
     WHERE outbox_id = ${id} RETURNING id`.execute(db);
  assert.deepEqual(rows.map((r) => Number(r.id)), [id]);
}

Deno.test({
  name: "pollMailbox() with PgBounceSink ties every bounce format in Dovecot to its delivery",
  ignore: requirePeer("dovecot", !dovecotAvailable),
  async fn() {
    await using dovecot = await startDovecot();
    await using t = await testDatabase();
    const names = sampleNames();
    assert.equal(names.length, 12);
    for (const name of names) {
      const id = idOf(name);
      if (id !== undefined) await deliveredWithId(t.db, id, recipientOf(name));
      await dovecot.deliver(name, withRealMessageIds(name));
    }

    const clock = new FakeClock(T0 + DAY);
    const sink = new PgBounceSink(t.db, {
      suppression: { hardBounceMs: 180 * DAY, complaintMs: null },
    });
    const options = {
      clock,
      sink,
      mailbox: `${dovecot.user}@${dovecot.host}:${dovecot.pop3sPort}`,
      verp: SAMPLE_VERP,
      credentials: { user: dovecot.user, password: new Secret(dovecot.password) },
      connect: () =>
        openPop3({
          host: dovecot.host,
          port: dovecot.pop3sPort,
          tls: "implicit",
          caCerts: [dovecot.caCert],
        }, { clock }),
    };
    const report = await pollMailbox(options);
    assert.equal(report.kind, "completed", JSON.stringify(report));
    assert.equal(report.counts.recorded, 12);
    assert.equal(report.counts.matched, 10);
    assert.equal(report.counts.unmatched, 2);
    assert.equal(report.counts.deleted, 12);
    assert.equal(await dovecot.count(), 0);

    const deliveries = new Map(
      (await t.db.selectFrom("ferry.deliveries").selectAll().execute()).map((d) => [
        Number(d.id),
        d,
      ]),
    );
    const { rows: events } = await sql<{ delivery_id: number; kind: string }>`
      SELECT delivery_id, kind FROM ferry.events ORDER BY id`.execute(t.db);
    const suppressed = new Map(
      (await t.db.selectFrom("ferry.suppressions").selectAll().execute()).map((s) => [
        s.address,
        s,
      ]),
    );
    const eventsOf = (id: number) =>
      events.filter((e) => Number(e.delivery_id) === id).map((e) => e.kind);

    for (const name of names) {
      const want = EXPECTED[name]!;
      const id = idOf(name);
      const d = id === undefined ? undefined : deliveries.get(id);
      const recipient = recipientOf(name);
      if (want.kind === "bounce" && want.action === "failed") {
        assert.equal(d?.status, "bounced", name);
        assert.equal(d?.bounce_class, want.class, name);
        assert.match(d!.last_reply!, new RegExp(want.status.replaceAll(".", "\\.")), name);
        assert.deepEqual(eventsOf(id!), ["bounced"], name);
        const suppress = want.hard && !NOT_ABOUT_THE_ADDRESS.has(want.class);
        assert.equal(suppressed.has(recipient), suppress, `${name}: suppressed`);
        if (suppress) {
          assert.equal(
            new Date(suppressed.get(recipient)!.expires_at!).getTime(),
            T0 + DAY + 180 * DAY,
          );
        }
      } else if (want.kind === "bounce") {
        assert.equal(d?.status, "delivered", `${name}: a delay changes no status`);
        assert.deepEqual(eventsOf(id!), ["bounce_delayed"], name);
        assert.equal(suppressed.has(recipient), false, name);
      } else if (want.kind === "complaint") {
        assert.equal(d?.status, "delivered", name);
        assert.deepEqual(eventsOf(id!), ["complaint"], name);
        assert.equal(suppressed.get(recipient)?.expires_at, null, `${name}: for good`);
      } else if (d) {
        assert.equal(d.status, "delivered", `${name}: an auto-reply bounces nothing`);
        assert.deepEqual(eventsOf(id!), [], name);
      }
    }
    assert.equal(events.length, 10, "one event per matched report, none twice");

    // The markers: each matched outcome names its delivery and class; the rest is kept raw.
    const { rows: markers } = await sql<{
      kind: string;
      matched: number;
      unmatched: number;
      raw: Uint8Array | null;
      summary: { subject: string; outcomes: { deliveryId: number | null; class?: string }[] };
    }>`SELECT kind, matched, unmatched, raw, summary FROM ferry.bounce_messages`.execute(t.db);
    assert.equal(markers.length, 12);
    const kept = markers.filter((m) => m.unmatched > 0);
    assert.deepEqual(kept.map((m) => m.kind), ["unrecognised", "unrecognised"]);
    assert.ok(kept.every((m) => m.raw !== null && m.raw.byteLength > 0), "kept with raw bytes");
    const matchedIds = markers.flatMap((m) => m.summary.outcomes.map((o) => o.deliveryId))
      .filter((id) => id !== null).sort();
    assert.deepEqual(matchedIds, [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 2001]);

    // A second poll finds an empty mailbox and changes nothing.
    const again = await pollMailbox(options);
    assert.equal(again.kind === "completed" && again.counts.listed, 0);
    const { rows: after } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM ferry.events`.execute(t.db);
    assert.equal(after[0]!.n, 10);
  },
});
