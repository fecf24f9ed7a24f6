/**
 * A smarthost with SMTP AUTH, end to end: the relay wired as main.ts wires it (alerts, metrics,
 * webhooks), every mail routed (`routes` in the config file, the password in a `passwordFile`)
 * to a real Postfix submission service that checks credentials through a private Dovecot.
 *
 * The smarthost does not take the relay's password at first: the mail is deferred (never
 * bounced) with a reply naming host and user, and `smarthost_auth_failed` is raised at once, on
 * the gauge and as a webhook. Once the account takes that password, the next attempt delivers
 * into Postfix's Maildir and the alert resolves. The password appears in no log line, reply,
 * event or webhook. Time is the fake clock's; only Postfix and Dovecot run in real time.
 */
import assert from "node:assert/strict";
import { dovecotAvailable, startDovecot } from "../_peers/dovecot.ts";
import { hasPostfix, startPostfix } from "../_peers/postfix.ts";
import { requirePeer } from "../_support/peers.ts";
import { hasOpenssl, testPki } from "../relay/tls/_test_certs.ts";
import { parsePrometheus } from "../relay/metrics/_prometheus.ts";
import { enqueue, startTestRelay } from "./_relay.ts";

const USER = "ferry@relay.test";
const PASSWORD = "Ferry-Sm4rthost-Pass";
const GAUGE = 'ferry_alert_active{alert="smarthost_auth_failed",domain="*"}';
const RECIPIENTS = ["ada@mx.test", "bob@mx.test", "cy@mx.test"];

Deno.test({
  name: "relay defers through a smarthost that refuses its credentials, alerts, then delivers",
  ignore: requirePeer("postfix+dovecot", !hasPostfix || !dovecotAvailable || !hasOpenssl),
  sanitizeResources: false, // the webhook dispatcher's fake fetch and Postfix's sockets
  sanitizeOps: false,
  async fn() {
    const pki = await testPki();
    // The account's password is not (yet) the one the relay was given.
    await using dovecot = await startDovecot({
      user: USER,
      password: "the-old-password",
      authSocketOwner: "postfix",
    });
    await using postfix = await startPostfix({
      tls: { certFile: pki.certFile, keyFile: pki.keyFile },
      submission: { saslPath: dovecot.authSocket! },
    });
    const secrets = await Deno.makeTempDir({ prefix: "ferry-secrets-" });
    const passwordFile = `${secrets}/smarthost`;
    await Deno.writeTextFile(passwordFile, `${PASSWORD}\n`);

    const posts: { type: string; data: Record<string, unknown> }[] = [];
    const bodies: string[] = [];
    const hooks: typeof fetch = (_url, init) => {
      bodies.push(String(init?.body));
      posts.push(JSON.parse(String(init?.body)));
      return Promise.resolve(new Response(null, { status: 204 }));
    };
    try {
      await using r = await startTestRelay({
        routes: "",
        operations: true,
        fetch: hooks,
        config: {
          delivery: { caFile: pki.caFile },
          routes: [{
            pattern: "*",
            host: "127.0.0.1",
            port: postfix.submissionPort,
            tls: "starttls",
            auth: { username: USER, passwordFile },
          }],
          // Only the rule under test: the others would fire on the deferred mail too.
          alerts: {
            interval: "1h",
            oldestQueuedAge: null,
            bounceRate: null,
            unreachableFor: null,
          },
          webhooks: {
            urls: ["https://hooks.test/ferry"],
            secret: "webhook-secret-0123456789",
            events: ["deferred", "delivered", "bounced", "alert.raised", "alert.resolved"],
          },
        },
      });
      const app = r.ops!.app;
      const scrape = async () => parsePrometheus(await (await app.request("/metrics")).text());
      const rows = () =>
        r.t.db.selectFrom("ferry.deliveries").select([
          "recipient",
          "status",
          "last_code",
          "last_reply",
          "mx_host",
        ]).orderBy("id").execute();
      const raised = () =>
        r.events.filter((e) => e.event === "alert.raised" && e.alert === "smarthost_auth_failed");
      for (const to of RECIPIENTS) await enqueue(r, { to: [to], subject: `for ${to}` });

      // The first refused AUTH raises the alert, long before its one-hour interval.
      const start = r.clock.now();
      await r.pumpUntil(() => raised().length === 1, "the alert on the first refusal");
      assert.ok(r.clock.now() - start < 60_000, "at once, not at the next evaluation");
      assert.equal((await scrape()).get(GAUGE), 1);

      await r.pumpUntil(
        async () => (await rows()).every((d) => d.status === "deferred"),
        "every mail deferred",
        100,
        3000,
      );
      for (const d of await rows()) {
        assert.equal(d.last_code, 451, d.recipient);
        assert.match(
          d.last_reply!,
          /^451 4\.7\.8 smarthost 127\.0\.0\.1 refused the credentials for user ferry@relay\.test: 535 5\.7\.8 Error: authentication failed/,
        );
        assert.equal(d.mx_host, "127.0.0.1");
      }
      assert.equal(raised().length, 1, "raised once, however many attempts were refused");
      const alert = r.ops!.alerts.active().find((a) => a.name === "smarthost_auth_failed");
      assert.equal(alert?.domain, "*");
      assert.match(alert!.message, /^route \*: smarthost 127\.0\.0\.1 refused the credentials/);
      await r.pumpUntil(
        () => posts.some((p) => p.type === "alert.raised"),
        "the alert's webhook",
        100,
        100,
      );
      assert.deepEqual(
        posts.filter((p) => p.type === "alert.raised").map((p) => [p.data.alert, p.data.domain]),
        [["smarthost_auth_failed", "*"]],
      );

      // The account is fixed: the retries deliver and the first accepted AUTH resolves the alert.
      await dovecot.setPassword(PASSWORD);
      await r.pumpUntil(
        async () => (await rows()).every((d) => d.status === "delivered"),
        "every mail delivered on retry",
        5_000,
        400,
      );
      const arrived = await postfix.delivered(RECIPIENTS.length);
      const text = arrived.map((m) => new TextDecoder().decode(m)).join("\n");
      for (const to of RECIPIENTS) assert.match(text, new RegExp(`Subject: for ${to}`));
      assert.ok(
        r.events.some((e) => e.event === "alert.resolved" && e.alert === "smarthost_auth_failed"),
        "resolved by the accepted AUTH",
      );
      assert.equal((await scrape()).get(GAUGE), 0);
      await r.pumpUntil(
        () =>
          posts.some((p) => p.type === "alert.resolved") &&
          posts.filter((p) => p.type === "delivered").length === RECIPIENTS.length,
        "the webhooks",
        100,
        600,
      );

      // Nothing bounced, anywhere.
      const kinds = await r.t.db.selectFrom("ferry.events").select("kind").execute();
      assert.ok(!kinds.some((k) => k.kind === "bounced"), JSON.stringify(kinds));
      assert.ok(!posts.some((p) => p.type === "bounced"));
      assert.ok(
        !(await postfix.log()).includes("status=bounced"),
        "Postfix bounced nothing either",
      );

      // The password never left the relay but over TLS to the smarthost.
      const written = [
        ...r.events.map((e) => JSON.stringify(e)),
        ...bodies,
        ...(await rows()).map((d) => JSON.stringify(d)),
        JSON.stringify(await r.t.db.selectFrom("ferry.events").selectAll().execute()),
        await (await app.request("/metrics")).text(),
      ].join("\n");
      assert.ok(!written.includes(PASSWORD), "the password in clear");
      assert.ok(!written.includes(btoa(PASSWORD)), "the password in base64");
    } finally {
      await Deno.remove(secrets, { recursive: true });
    }
  },
});
