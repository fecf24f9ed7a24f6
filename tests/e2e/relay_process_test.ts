/**
 * The relay as a process, as `deno task start` runs it: a bad variable stops it with a message
 * naming the variable; a good start migrates, ingests a committed outbox row, answers /healthz,
 * and exits 0 on SIGTERM.
 */
import assert from "node:assert/strict";
import { freePort } from "../_support/postgres_cluster.ts";
import { serverOnly, testDatabase } from "../_support/db.ts";
import { insertOutbox } from "../_support/outbox.ts";
import { startSmtpServer } from "../relay/smtp/_smtp_server.ts";

const main = new URL("../../relay/main.ts", import.meta.url).pathname;

function spawnRelay(env: Record<string, string>) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", main],
    env: { ...env, NO_COLOR: "1" },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("relay process refuses an invalid variable with a message naming it", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", main],
    env: { FERRY_ADMIN_LISTEN: "nonsense", PATH: Deno.env.get("PATH") ?? "" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 1);
  assert.match(new TextDecoder().decode(out.stderr), /FERRY_ADMIN_LISTEN: expected host:port/);
});

Deno.test({
  name:
    "relay process migrates, delivers a committed row over SMTP, serves /healthz, stops on SIGTERM",
  ignore: serverOnly,
  async fn() {
    await using server = await startSmtpServer();
    await using t = await testDatabase();
    const port = freePort();
    const child = spawnRelay({
      DATABASE_URL: t.url!,
      FERRY_ADMIN_LISTEN: `127.0.0.1:${port}`,
      FERRY_ADMIN_TOKEN: "e2e-token-0123456789",
      FERRY_HOSTNAME: "relay.test",
      FERRY_ROUTES: `*=127.0.0.1:${server.port}`,
      PATH: Deno.env.get("PATH") ?? "",
    });
    try {
      // Wait (bounded) for the server to answer; each probe is a real request, not a sleep.
      let health: Response | undefined;
      for (let i = 0; i < 300 && !health?.ok; i++) {
        health = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        if (!health?.ok) {
          await health?.body?.cancel();
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      assert.ok(health?.ok, "healthz answered");
      await health.body?.cancel();
      const id = await insertOutbox(t.db);
      let status: string | undefined;
      for (let i = 0; i < 400 && status !== "delivered"; i++) {
        const row = await t.db.selectFrom("ferry.deliveries").select("status")
          .where("outbox_id", "=", id).executeTakeFirst();
        status = row?.status;
        if (status !== "delivered") await new Promise((r) => setTimeout(r, 25));
      }
      assert.equal(status, "delivered");
      assert.equal(server.messages.length, 1);
      assert.deepEqual(server.messages[0]!.recipients, ["rcpt@example.test"]);
    } finally {
      child.kill("SIGTERM");
    }
    const out = await child.output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((l) => l.event).filter((e) => e.startsWith("relay.")),
      ["relay.started", "relay.stopping", "relay.stopped"],
    );
  },
});
