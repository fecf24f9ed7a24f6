/**
 * One-click unsubscribe end to end (RFC 8058): an outbox row with `list_unsubscribe` goes over
 * real SMTP to npm smtp-server, one copy per recipient, each with its own token in
 * `List-Unsubscribe` (an https-style URL of the relay's real public listener) and
 * `List-Unsubscribe-Post`, both covered by a DKIM signature that mailauth verifies. The POST of
 * a recipient's URL to the listener suppresses that recipient for mail from the sender domain
 * only, writes an `unsubscribed` event and sends a webhook to a real local receiver; the same
 * POST again is 410, a forged token 403 with nothing written, a GET only shows a form. The fake
 * clock drives the relay; the listener, SMTP and webhook receiver are real sockets on loopback.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { generateKeyPairSync } from "node:crypto";
import { dkimVerify } from "mailauth/lib/dkim/verify.js";
import { dkimDnsRecord } from "../../relay/dkim/keys.ts";
import { startSmtpServer } from "../relay/smtp/_smtp_server.ts";
import { ADMIN_TOKEN, startTestRelay, type TestRelay } from "./_relay.ts";
import { dovecotAvailable, startDovecot } from "../_peers/dovecot.ts";
import { requirePeer } from "../_support/peers.ts";

const SECRET = "one-click-unsubscribe-key-0123456789";

/** A loopback port free a moment ago (the listener's URL must be known before it binds). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function send(
  r: TestRelay,
  from: string,
  to: string[],
  listUnsubscribe: boolean,
): Promise<number> {
  const at = new Date(r.clock.now());
  const row = await r.t.db.insertInto("ferry.outbox").values({
    from_address: from,
    to_addresses: to,
    subject: "news",
    text_body: "this week's news",
    list_unsubscribe: listUnsubscribe,
    send_at: at,
    created_at: at,
  }).returning("id").executeTakeFirstOrThrow();
  return Number(row.id);
}

async function statusOf(r: TestRelay, outboxId: number, recipient: string): Promise<string> {
  const d = await r.t.db.selectFrom("ferry.deliveries").select("status")
    .where("outbox_id", "=", outboxId).where("recipient", "=", recipient).executeTakeFirst();
  return d?.status ?? "none";
}

/** The header block, unfolded, as `name` (lower-case) -> values. */
function headerFields(bytes: Uint8Array): Map<string, string[]> {
  const head = new TextDecoder().decode(bytes).split("\r\n\r\n")[0]!.replace(/\r\n[ \t]+/g, " ");
  const out = new Map<string, string[]>();
  for (const line of head.split("\r\n")) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    out.set(name, [...out.get(name) ?? [], line.slice(colon + 1).trim()]);
  }
  return out;
}

function oneClick(url: string): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "List-Unsubscribe=One-Click",
  });
}

Deno.test({
  name: "a one-click unsubscribe POST suppresses the recipient for its sender domain only",
  async fn() {
    await using smtp = await startSmtpServer();
    const hooks: { type: string; data: Record<string, unknown> }[] = [];
    const hookServer = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        hooks.push(await req.json());
        return new Response(null, { status: 204 });
      },
    );
    try {
      const privateKey = generateKeyPairSync("ed25519").privateKey
        .export({ type: "pkcs8", format: "pem" }).toString();
      const port = freePort();
      const publicUrl = `http://127.0.0.1:${port}`;
      await using r = await startTestRelay({
        routes: `*=127.0.0.1:${smtp.port}`,
        operations: true,
        env: { FERRY_PUBLIC_LISTEN: `127.0.0.1:${port}` },
        config: {
          dkim: [{ domain: "news.test", selector: "s1", algorithm: "ed25519-sha256", privateKey }],
          unsubscribe: { publicUrl, secret: SECRET },
          webhooks: {
            urls: [`http://127.0.0.1:${hookServer.addr.port}/hook`],
            secret: "webhook-secret-0123456789",
            events: ["unsubscribed"],
          },
        },
      });

      const flagged = await send(r, "News <letters@news.test>", [
        "ada@rcpt.test",
        "bob@rcpt.test",
      ], true);
      const plain = await send(r, "News <letters@news.test>", ["carol@rcpt.test"], false);
      await r.pumpUntil(
        async () =>
          (await statusOf(r, flagged, "ada@rcpt.test")) === "delivered" &&
          (await statusOf(r, flagged, "bob@rcpt.test")) === "delivered" &&
          (await statusOf(r, plain, "carol@rcpt.test")) === "delivered",
        "three deliveries",
      );

      // One transaction per flagged recipient (their bytes differ); the plain mail has no fields.
      const byRecipient = new Map(smtp.messages.map((m) => [m.recipients.join(","), m.content]));
      assert.deepEqual([...byRecipient.keys()].sort(), [
        "ada@rcpt.test",
        "bob@rcpt.test",
        "carol@rcpt.test",
      ]);
      assert.equal(
        headerFields(byRecipient.get("carol@rcpt.test")!).has("list-unsubscribe"),
        false,
      );
      const record = dkimDnsRecord(privateKey);
      const urls = new Map<string, string>();
      for (const who of ["ada@rcpt.test", "bob@rcpt.test"]) {
        const bytes = byRecipient.get(who)!;
        const h = headerFields(bytes);
        assert.deepEqual(h.get("list-unsubscribe-post"), ["List-Unsubscribe=One-Click"], who);
        const lu = h.get("list-unsubscribe") ?? [];
        assert.equal(lu.length, 1, who);
        const m = new RegExp(`^<(${publicUrl}/u/[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+)>$`).exec(lu[0]!);
        assert.ok(m, `${who}: ${lu[0]}`);
        urls.set(who, m[1]!);
        // RFC 8058 §4: both fields covered by a valid DKIM signature.
        const verified = await dkimVerify(Buffer.from(bytes), {
          resolver: (name: string) =>
            name === "s1._domainkey.news.test"
              ? Promise.resolve([[record]])
              : Promise.reject(Object.assign(new Error("ENOTFOUND"), { code: "ENOTFOUND" })),
          curTime: new Date(r.clock.now()),
        });
        assert.deepEqual(
          verified.results.map((v) => [v.status.result, v.signingDomain]),
          [["pass", "news.test"]],
          who,
        );
        const signed = /\bh=([^;]+)/i.exec(h.get("dkim-signature")![0]!)![1]!.toLowerCase()
          .replace(/\s/g, "").split(":");
        assert.ok(signed.includes("list-unsubscribe"), signed.join(":"));
        assert.ok(signed.includes("list-unsubscribe-post"), signed.join(":"));
      }
      assert.notEqual(urls.get("ada@rcpt.test"), urls.get("bob@rcpt.test"), "a token each");
      const adaUrl = urls.get("ada@rcpt.test")!;
      const suppressions = () =>
        r.t.db.selectFrom("ferry.suppressions").select(["address", "sender_domain", "source"])
          .execute();

      // A GET (a link scanner, a preview) shows a form and changes nothing.
      const page = await fetch(adaUrl);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<form method="post"[^>]*>.*List-Unsubscribe.*One-Click/);
      // A forged token: Bob's payload under Ada's signature.
      const bobUrl = urls.get("bob@rcpt.test")!;
      const forged = `${bobUrl.slice(0, bobUrl.lastIndexOf("."))}${
        adaUrl.slice(adaUrl.lastIndexOf("."))
      }`;
      const forgedRes = await oneClick(forged);
      assert.equal(forgedRes.status, 403);
      await forgedRes.body?.cancel();
      // A POST without the one-click body.
      const bare = await fetch(adaUrl, { method: "POST" });
      assert.equal(bare.status, 400);
      await bare.body?.cancel();
      const elsewhere = await fetch(`${publicUrl}/api/v1/messages`);
      assert.equal(elsewhere.status, 404, "the public listener serves nothing else");
      await elsewhere.body?.cancel();
      assert.deepEqual(await suppressions(), []);

      const ok = await oneClick(adaUrl);
      assert.equal(ok.status, 200);
      await ok.body?.cancel();
      assert.deepEqual(await suppressions(), [
        { address: "ada@rcpt.test", sender_domain: "news.test", source: "unsubscribe" },
      ]);
      const again = await oneClick(adaUrl);
      assert.equal(again.status, 410, "a replayed token");
      await again.body?.cancel();

      const events = await r.t.db.selectFrom("ferry.events").select(["kind", "delivery_id"])
        .where("kind", "=", "unsubscribed").execute();
      assert.equal(events.length, 1);
      await r.pumpUntil(() => hooks.length > 0, "the webhook", 100, 600);
      assert.equal(hooks[0]!.type, "unsubscribed");
      assert.equal(hooks[0]!.data.recipient, "ada@rcpt.test");
      assert.equal(hooks[0]!.data.outbox_id, flagged);

      // The admin API shows the scope.
      const listed = await r.ops!.app.request("/api/v1/suppressions", {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      const body = await listed.json();
      assert.equal(body.suppressions[0].sender_domain, "news.test");

      // New mail to Ada: from news.test it is suppressed, from another domain it goes.
      const sameDomain = await send(r, "letters@news.test", ["ada@rcpt.test"], false);
      const otherDomain = await send(r, "shop@other.test", ["ada@rcpt.test"], false);
      await r.pumpUntil(
        async () =>
          (await statusOf(r, sameDomain, "ada@rcpt.test")) === "suppressed" &&
          (await statusOf(r, otherDomain, "ada@rcpt.test")) === "delivered",
        "suppressed for news.test, delivered for other.test",
      );
      assert.equal(smtp.messages.length, 4);
      assert.equal(r.events.filter((e) => e.event === "unsubscribe.accepted").length, 1);
    } finally {
      await hookServer.shutdown();
    }
  },
});

Deno.test({
  name: "a row asking for list_unsubscribe on a relay without it is rejected with the reason",
  async fn() {
    await using smtp = await startSmtpServer();
    await using r = await startTestRelay({ routes: `*=127.0.0.1:${smtp.port}` });
    const id = await send(r, "letters@news.test", ["ada@rcpt.test"], true);
    await r.pumpUntil(
      async () => (await statusOf(r, id, "ada@rcpt.test")) === "rejected",
      "the row rejected",
    );
    const row = await r.t.db.selectFrom("ferry.outbox").select("reject_reason")
      .where("id", "=", id).executeTakeFirstOrThrow();
    assert.match(row.reject_reason ?? "", /list_unsubscribe is set but one-click unsubscribe/);
    assert.equal(smtp.messages.length, 0);
  },
});

Deno.test({
  name: "a list_unsubscribe row that brings its own List-Unsubscribe field is rejected",
  async fn() {
    await using smtp = await startSmtpServer();
    await using r = await startTestRelay({
      routes: `*=127.0.0.1:${smtp.port}`,
      config: { unsubscribe: { publicUrl: "https://mail.example.com", secret: SECRET } },
    });
    const at = new Date(r.clock.now());
    const raw = await r.t.db.insertInto("ferry.outbox").values({
      from_address: "letters@news.test",
      to_addresses: ["ada@rcpt.test"],
      raw_message: new TextEncoder().encode(
        "From: letters@news.test\r\nTo: ada@rcpt.test\r\nSubject: hi\r\n" +
          "List-Unsubscribe: <mailto:leave@news.test>\r\n\r\nbody\r\n",
      ),
      list_unsubscribe: true,
      send_at: at,
      created_at: at,
    }).returning("id").executeTakeFirstOrThrow();
    const headers = await r.t.db.insertInto("ferry.outbox").values({
      from_address: "letters@news.test",
      to_addresses: ["bob@rcpt.test"],
      subject: "hi",
      text_body: "body",
      headers: JSON.stringify({ "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" }),
      list_unsubscribe: true,
      send_at: at,
      created_at: at,
    }).returning("id").executeTakeFirstOrThrow();
    await r.pumpUntil(
      async () =>
        (await statusOf(r, Number(raw.id), "ada@rcpt.test")) === "rejected" &&
        (await statusOf(r, Number(headers.id), "bob@rcpt.test")) === "rejected",
      "both rows rejected",
    );
    const reasons = await r.t.db.selectFrom("ferry.outbox").select("reject_reason")
      .orderBy("id").execute();
    assert.match(reasons[0]!.reject_reason ?? "", /List-Unsubscribe field in raw_message/);
    assert.match(reasons[1]!.reject_reason ?? "", /header List-Unsubscribe-Post/);
    assert.equal(smtp.messages.length, 0);
  },
});

const VERP = {
  prefix: "bounces",
  domain: "bounce.news.test",
  secret: "e2e-verp-secret-0123456789",
};

Deno.test({
  name:
    "a mail to the List-Unsubscribe mailto: address, read from the bounce mailbox, unsubscribes",
  ignore: requirePeer("dovecot", !dovecotAvailable),
  sanitizeResources: false, // Dovecot's sockets
  sanitizeOps: false,
  async fn() {
    await using dovecot = await startDovecot();
    const caFile = await Deno.makeTempFile({ prefix: "ferry-e2e-ca-", suffix: ".pem" });
    await using _ca = { [Symbol.asyncDispose]: () => Deno.remove(caFile) };
    await Deno.writeTextFile(caFile, dovecot.caCert);
    await using smtp = await startSmtpServer();
    await using r = await startTestRelay({
      routes: `*=127.0.0.1:${smtp.port}`,
      config: {
        delivery: { caFile },
        unsubscribe: { publicUrl: "https://mail.news.test", secret: SECRET },
        bounce: {
          host: dovecot.host,
          port: dovecot.pop3sPort,
          tls: "implicit",
          username: dovecot.user,
          password: dovecot.password,
          pollInterval: "1s",
          verp: VERP,
        },
      },
    });
    const id = await send(r, "letters@news.test", ["ada@rcpt.test", "bob@rcpt.test"], true);
    await r.pumpUntil(
      async () =>
        (await statusOf(r, id, "ada@rcpt.test")) === "delivered" &&
        (await statusOf(r, id, "bob@rcpt.test")) === "delivered",
      "both delivered",
    );
    const mailtos = new Map<string, string>();
    for (const m of smtp.messages) {
      const lu = headerFields(m.content).get("list-unsubscribe")![0]!;
      const uris = lu.split(",").map((u) => u.trim());
      assert.match(uris[0]!, /^<https:\/\/mail\.news\.test\/u\/[A-Za-z0-9_.-]+>$/);
      const mailto = /^<mailto:([^?>]+)\?subject=unsubscribe>$/.exec(uris[1]!);
      assert.ok(mailto, lu);
      assert.match(mailto[1]!, /^bounces\+unsub-\d+-[0-9a-f]{20}@bounce\.news\.test$/);
      assert.ok(mailto[1]!.split("@")[0]!.length <= 64, "a local part fits RFC 5321");
      mailtos.set(m.recipients[0]!, mailto[1]!);
    }
    const ada = mailtos.get("ada@rcpt.test")!;
    // A forged tag (Ada's delivery id, Bob's tag) and then Ada's real request, as a mail client
    // sends it to the address: both land in the bounce mailbox.
    const bob = mailtos.get("bob@rcpt.test")!;
    const forged = `${ada.slice(0, ada.lastIndexOf("-"))}${bob.slice(bob.lastIndexOf("-"))}`;
    const mail = (to: string) =>
      new TextEncoder().encode(
        `From: ada@rcpt.test\r\nTo: <${to}>\r\nSubject: unsubscribe\r\n` +
          `Message-ID: <${crypto.randomUUID()}@rcpt.test>\r\n\r\nunsubscribe\r\n`,
      );
    await dovecot.deliver("forged.eml", mail(forged));
    await r.pumpUntil(async () => (await dovecot.count()) === 0, "the forged mail handled", 100);
    assert.deepEqual(await r.t.db.selectFrom("ferry.suppressions").selectAll().execute(), []);
    await dovecot.deliver("unsub.eml", mail(ada));
    await r.pumpUntil(
      async () =>
        (await r.t.db.selectFrom("ferry.suppressions").select("address").execute()).length > 0,
      "the suppression",
      100,
    );
    const rows = await r.t.db.selectFrom("ferry.suppressions")
      .select(["address", "sender_domain", "source"]).execute();
    assert.deepEqual(rows, [{
      address: "ada@rcpt.test",
      sender_domain: "news.test",
      source: "unsubscribe",
    }]);
    const uses = await r.t.db.selectFrom("ferry.unsubscribe_uses").select("via").execute();
    assert.deepEqual(uses, [{ via: "mailto" }]);
    await r.pumpUntil(async () => (await dovecot.count()) === 0, "the request deleted", 100);
    assert.deepEqual(
      r.events.filter((e) => e.event.startsWith("unsubscribe.")).map((e) => e.event),
      ["unsubscribe.refused", "unsubscribe.accepted"],
    );
  },
});
