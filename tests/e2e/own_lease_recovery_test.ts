/**
 * After kill -9, a restarted instance takes back at once what it held (its `sending` rows)
 * instead of waiting for their leases (2 minutes by default) to run out: with the embedded
 * database the data directory is its identity; with a server, `FERRY_INSTANCE_ID`. Another
 * instance still waits for the leases, since only the holder can know it is gone.
 *
 * The receiver holds every MAIL FROM unanswered while the first instance runs, so its claims are
 * on the wire (`sending`) when it is killed; afterwards it answers at once.
 */
import assert from "node:assert/strict";
import { sql } from "kysely";
import { serverOnly, testDatabase } from "../_support/db.ts";
import { type RelayProcess, spawnRelay } from "../_support/relay_process.ts";
import { startSmtpServer } from "../relay/smtp/_smtp_server.ts";

const TOKEN = "relay-process-token-0123456789";
const MESSAGES = 6;

/** A receiver that leaves MAIL FROM unanswered while `held` is true. */
async function holdingReceiver() {
  const state = { held: true, mailFroms: 0 };
  const server = await startSmtpServer({
    onMailFrom(_address, _session, callback) {
      state.mailFroms++;
      if (!state.held) callback();
    },
  });
  return { server, state };
}

async function enqueue(relay: RelayProcess, n: number, prefix = "r"): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${relay.adminUrl}/api/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({
        from_address: "sender@ferry.test",
        to_addresses: [`${prefix}${i}@d${i % 3}.test`],
        subject: `m${i}`,
        text_body: "body",
      }),
    });
    assert.equal(r.status, 201, await r.text());
  }
}

async function queueCounts(relay: RelayProcess): Promise<Record<string, number>> {
  const r = await fetch(`${relay.adminUrl}/api/v1/queue`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const body = await r.json();
  return body.counts;
}

Deno.test("embedded relay killed with -9 re-sends its own sending rows within 5 s of restart", async () => {
  const { server, state } = await holdingReceiver();
  await using _server = server;
  const dataDir = await Deno.makeTempDir({ prefix: "ferry-own-lease-" });
  let relay: RelayProcess | undefined;
  try {
    relay = await spawnRelay({ dataDir, routes: `*=127.0.0.1:${server.port}` });
    await relay.started();
    await enqueue(relay, MESSAGES);
    await until(() => state.mailFroms >= 3, "three transactions on the wire", 30_000, relay);
    await relay.kill9();
    state.held = false;

    relay = await spawnRelay({ dataDir, routes: `*=127.0.0.1:${server.port}` });
    await relay.started();
    const restarted = performance.now();
    await until(
      async () => (await queueCounts(relay!)).delivered === MESSAGES,
      "all delivered",
      30_000,
      relay,
    );
    const seconds = (performance.now() - restarted) / 1000;
    console.log(`embedded: every message delivered ${seconds.toFixed(2)} s after the restart`);
    assert.ok(seconds < 5, `${seconds} s`);
    assert.equal(relay.events.get("lease.reclaimed"), 1, relay.tail());
    const copies = server.messages.flatMap((m) => m.recipients);
    assert.equal(copies.length, MESSAGES, "each message once");
    assert.equal(new Set(copies).size, MESSAGES);
    assert.equal(await relay.stop(), 0, relay.tail());
  } finally {
    await relay?.kill9();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test({
  name:
    "another instance waits for the lease; the holder restarted with FERRY_INSTANCE_ID takes it back at once",
  ignore: serverOnly,
  async fn() {
    const { server, state } = await holdingReceiver();
    await using _server = server;
    await using t = await testDatabase();
    const spawn = (id: string) =>
      spawnRelay({
        databaseUrl: t.url!,
        routes: `*=127.0.0.1:${server.port}`,
        env: { FERRY_INSTANCE_ID: id },
        config: { queue: { leaseDuration: "60s" }, delivery: { domainLease: "2s" } },
      });
    const sending = async () => {
      const { rows } = await sql<{ owner: string; n: number }>`
        SELECT lease_owner AS owner, count(*)::int AS n FROM ferry.deliveries
         WHERE status = 'sending' GROUP BY 1`.execute(t.db);
      return rows;
    };
    let a: RelayProcess | undefined;
    let b: RelayProcess | undefined;
    try {
      a = await spawn("instance-a");
      await a.started();
      await enqueue(a, MESSAGES);
      await until(() => state.mailFroms >= 3, "transactions on the wire", 30_000, a);
      await a.kill9();
      const held = await sending();
      assert.equal(held.length, 1);
      assert.equal(held[0]!.owner, "instance-a");
      state.held = false;

      b = await spawn("instance-b");
      await b.started();
      // B takes over A's destinations once their 2 s leases lapse and delivers new mail to them,
      // but never A's claims: those have 60 s to run.
      await enqueue(b, 3, "late");
      await until(() => server.messages.length >= 3, "B delivered new mail", 30_000, b);
      const ofA = (await sending()).filter((r) => r.owner === "instance-a");
      assert.deepEqual(ofA, held, "A's claims wait for their lease");

      a = await spawn("instance-a");
      await a.started();
      const restarted = performance.now();
      await until(
        async () => !(await sending()).some((r) => r.owner === "instance-a"),
        "A's rows taken back",
        10_000,
        a,
      );
      await until(() => server.messages.length === MESSAGES + 3, "all delivered", 10_000, a);
      const seconds = (performance.now() - restarted) / 1000;
      console.log(
        `server: A's ${held[0]!.n} held rows delivered ${seconds.toFixed(2)} s after its restart`,
      );
      assert.ok(seconds < 5, `${seconds} s`);
      const copies = server.messages.flatMap((m) => m.recipients);
      assert.equal(new Set(copies).size, MESSAGES + 3);
      assert.equal(copies.length, MESSAGES + 3, "each message once");
      assert.equal(await a.stop(), 0, a.tail());
      assert.equal(await b.stop(), 0, b.tail());
    } finally {
      await a?.kill9();
      await b?.kill9();
    }
  },
});

/** Polls `cond` every 50 ms until it holds; fails after `ms` with the relay's last lines. */
async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms: number,
  relay: RelayProcess,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await Promise.resolve(cond()).catch(() => false))) {
    if (performance.now() > deadline) {
      throw new Error(`Cannot go on as ${what} did not happen in ${ms} ms:\n${relay.tail()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
