/**
 * REQUIRETLS (RFC 8689) from the outbox row to the recorded outcome: rows with and without
 * `require_tls` are ingested, claimed from PostgreSQL, sent by SmtpDeliverer over one session to
 * npm smtp-server on loopback (a certificate from the test CA for mx.test), and their outcomes
 * recorded. A require_tls message goes only over verified TLS to a receiver announcing
 * REQUIRETLS, with `REQUIRETLS` on MAIL FROM; otherwise it bounces as Ferry's own refusal
 * (5.7.30 without REQUIRETLS, 5.7.10 without verified TLS) and nothing of it is sent, while the
 * message without require_tls on the same session travels as before.
 */
import assert from "node:assert/strict";
import { classifyOutcome } from "../../../actors/classify_outcome.ts";
import type { Delivery } from "../../../actors/ports.ts";
import { ingestOutbox } from "../../../db/ingest.ts";
import { loadMessages } from "../../../db/messages.ts";
import { MessageSource } from "../../../relay/adapters/message_source.ts";
import { pgQueue } from "../../../relay/adapters/pg_queue.ts";
import { LOCAL_REFUSAL, SmtpDeliverer } from "../../../relay/adapters/smtp_deliverer.ts";
import { MessageLoader } from "../../../relay/adapters/message_loader.ts";
import { createRouter } from "../../../relay/dns/mod.ts";
import type { TlsPolicy, TraceEvent } from "../../../relay/smtp/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import { testDatabase } from "../../_support/db.ts";
import { insertOutbox } from "../../_support/outbox.ts";
import { requirePeer } from "../../_support/peers.ts";
import { startSmtpServer, type TestSmtpServer } from "../smtp/_smtp_server.ts";
import { hasOpenssl, testPki } from "../tls/_test_certs.ts";

const ignore = requirePeer("openssl", !hasOpenssl);
const NOW = Date.UTC(2030, 4, 1, 9);

/** A receiver on loopback: STARTTLS with the test certificate, REQUIRETLS when `announce`. */
async function tlsReceiver(announce: boolean): Promise<TestSmtpServer> {
  const pki = await testPki();
  return await startSmtpServer({
    key: pki.keyPem,
    cert: pki.certPem,
    disabledCommands: [],
    // smtp-server announces REQUIRETLS over TLS only, and only when told to.
    hideREQUIRETLS: !announce,
  });
}

/** How each delivery ended up in ferry.deliveries and ferry.events, by recipient. */
interface Recorded {
  readonly status: string;
  readonly code: number | null;
  readonly reply: string | null;
  readonly enhanced: string | null;
  readonly mxHost: string | null;
}

interface Run {
  readonly recorded: ReadonlyMap<string, Recorded>;
  /** MAIL FROM commands Ferry sent, as on the wire. */
  readonly mailCommands: readonly string[];
}

/**
 * Inserts a require_tls message to strict@x.test and a plain one to plain@x.test (in that
 * order), ingests, claims, sends both over one session to `server` (x.test's MX is mx.test at
 * 127.0.0.1) under `tlsPolicy`, and records the outcomes.
 */
async function sendBoth(server: TestSmtpServer, tlsPolicy: TlsPolicy): Promise<Run> {
  await using t = await testDatabase();
  const at = new Date(NOW);
  const strict = await insertOutbox(t.db, {
    to_addresses: ["strict@x.test"],
    require_tls: true,
    created_at: at,
    send_at: at,
  });
  const plain = await insertOutbox(t.db, {
    to_addresses: ["plain@x.test"],
    created_at: at,
    send_at: at,
  });
  await ingestOutbox(t.db, { now: at });

  const queue = pgQueue({
    db: t.db,
    instance: "i1",
    deliveryLeaseMs: 120_000,
    domainLeaseMs: 15_000,
    suppressForMs: null,
  });
  assert.deepEqual(await queue.acquireDomains(["x.test"], NOW), ["x.test"]);
  const claimed = await queue.claimMany([{ domain: "x.test", limit: 10 }], NOW);
  const byOutbox = new Map<number, Delivery>(claimed.map((d) => [d.outboxId, d]));
  assert.equal(byOutbox.size, 2);

  const clock = new FakeClock(NOW);
  const transcript: TraceEvent[] = [];
  const loader = new MessageLoader((ids) => loadMessages(t.db, ids));
  const deliverer = new SmtpDeliverer({
    clock,
    router: createRouter({
      resolver: new FakeResolver({
        "x.test": { mx: [{ preference: 10, exchange: "mx.test" }] },
        "mx.test": { a: ["127.0.0.1"] },
      }),
      random: () => 0.5,
      port: server.port,
      addressOrder: "ipv4-only",
    }),
    messages: new MessageSource({
      load: (id) => loader.load(id),
      clock,
      messageIdDomain: "relay.test",
    }),
    heloName: "relay.test",
    tlsPolicy: () => tlsPolicy,
    ...(tlsPolicy === "verified" ? { caCerts: [(await testPki()).caPem] } : {}),
    trace: (e) => transcript.push(e),
  });
  const signal = new AbortController().signal;
  const connected = await deliverer.connect("x.test", signal);
  if (connected.kind !== "connected") return assert.fail(JSON.stringify(connected.result));
  const session = connected.session;
  try {
    // One session, the require_tls message first: the refusal must not cost the next one.
    for (const id of [strict, plain]) {
      const delivery = byOutbox.get(id)!;
      const [result] = await session.send(id, [delivery], signal);
      const record = classifyOutcome(delivery, result!, {
        now: NOW,
        mxHost: session.mxHost,
        tls: session.tls,
        planRetry: ({ now }) => ({ kind: "retry", at: now + 300_000 }),
      });
      assert.deepEqual((await queue.record([record], NOW)).refused, []);
    }
  } finally {
    await session.close();
  }

  const rows = await t.db.selectFrom("ferry.deliveries as d")
    .innerJoin("ferry.events as e", "e.delivery_id", "d.id")
    .select([
      "d.recipient",
      "d.status",
      "d.last_code",
      "d.last_reply",
      "d.mx_host",
      "e.enhanced",
    ])
    .execute();
  return {
    recorded: new Map(rows.map((r) => [r.recipient, {
      status: r.status,
      code: r.last_code,
      reply: r.last_reply,
      enhanced: r.enhanced,
      mxHost: r.mx_host,
    }])),
    mailCommands: transcript.filter((e) => e.direction === "out" && e.line.startsWith("MAIL"))
      .map((e) => e.line),
  };
}

/** Asserts that strict@x.test bounced as Ferry's own refusal with `enhanced`, and never left. */
function assertRefused(run: Run, server: TestSmtpServer, enhanced: string, text: RegExp): void {
  const strict = run.recorded.get("strict@x.test")!;
  assert.equal(strict.status, "bounced", JSON.stringify(strict));
  assert.equal(strict.code, 550);
  assert.equal(strict.enhanced, enhanced);
  assert.ok(strict.reply!.startsWith(`550 ${enhanced} ${LOCAL_REFUSAL} `), strict.reply!);
  assert.match(strict.reply!, text);
  assert.equal(strict.mxHost, null, "no receiving host said this: it is Ferry's refusal");

  // Nothing of the require_tls message went out: no MAIL FROM with REQUIRETLS, nor any other
  // MAIL FROM than the plain message's, and the receiver holds that one only.
  assert.deepEqual(run.mailCommands, ["MAIL FROM:<sender@ferry.test>"]);
  assert.deepEqual(server.messages.map((m) => m.recipients), [["plain@x.test"]]);

  const plain = run.recorded.get("plain@x.test")!;
  assert.equal(plain.status, "delivered", JSON.stringify(plain));
}

Deno.test({
  name:
    "require_tls: verified TLS to a receiver announcing REQUIRETLS sends MAIL FROM:<...> REQUIRETLS and delivers",
  ignore,
  async fn() {
    await using server = await tlsReceiver(true);
    const run = await sendBoth(server, "verified");
    assert.deepEqual(run.mailCommands, [
      "MAIL FROM:<sender@ferry.test> REQUIRETLS",
      "MAIL FROM:<sender@ferry.test>",
    ]);
    assert.equal(run.recorded.get("strict@x.test")!.status, "delivered");
    assert.equal(run.recorded.get("strict@x.test")!.mxHost, "mx.test");
    assert.equal(run.recorded.get("plain@x.test")!.status, "delivered");
    assert.deepEqual(
      server.messages.map((m) => [m.recipients[0], m.secure, m.requireTls]),
      [["strict@x.test", true, true], ["plain@x.test", true, false]],
      "the receiver took on the requirement for the require_tls message only",
    );
  },
});

Deno.test({
  name:
    "require_tls: a receiver without REQUIRETLS gets nothing; the message bounces with 550 5.7.30",
  ignore,
  async fn() {
    await using server = await tlsReceiver(false);
    const run = await sendBoth(server, "verified");
    assertRefused(run, server, "5.7.30", /REQUIRETLS support required: mx\.test does not announce/);
  },
});

Deno.test({
  name:
    "require_tls: opportunistic (unverified) TLS is not enough; the message bounces with 5.7.10",
  ignore,
  async fn() {
    await using server = await tlsReceiver(true);
    const run = await sendBoth(server, "opportunistic");
    assertRefused(run, server, "5.7.10", /certificate of mx\.test was not verified/);
  },
});

Deno.test({
  name: "require_tls: plaintext is never used for it; the message bounces with 5.7.10",
  async fn() {
    // No STARTTLS offered (smtp-server then never announces REQUIRETLS either).
    await using server = await startSmtpServer();
    const run = await sendBoth(server, "opportunistic");
    assertRefused(run, server, "5.7.10", /session with mx\.test is not encrypted/);
  },
});
