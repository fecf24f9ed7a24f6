/**
 * DKIM over BDAT (RFC 3030): messages signed by the relay's MessageSource and sent by
 * SmtpDeliverer into a real Postfix, which offers CHUNKING, so the content travels as one
 * counted chunk without dot-stuffing. What Postfix stored verifies with mailauth and with dkimpy
 * (python3-dkim), for rsa-sha256 and ed25519-sha256: dot lines, bare CR and LF, no final line end.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { shopKey } from "./_keys.ts";
import { dkimVerify } from "mailauth/lib/dkim/verify.js";
import type { Delivery } from "../../../actors/ports.ts";
import { createDkimSigner } from "../../../relay/dkim/signer.ts";
import { dkimDnsRecord, type DkimKeyConfig } from "../../../relay/dkim/keys.ts";
import { buildRouteTable, createRouter } from "../../../relay/dns/mod.ts";
import { MessageSource } from "../../../relay/adapters/message_source.ts";
import { SmtpDeliverer } from "../../../relay/adapters/smtp_deliverer.ts";
import type { MessageRow } from "../../../db/messages.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import { requirePeer } from "../../_support/peers.ts";
import { hasPostfix, startPostfix } from "../../_peers/postfix.ts";

// Now, not a fixed date: dkimpy refuses a signature whose t= lies in the future.
const NOW = Math.floor(Date.now() / 1000) * 1000;
const PYTHON = "/usr/bin/python3";
const DKIMPY = new URL("./_dkimpy_verify.py", import.meta.url).pathname;

const base: Omit<MessageRow, "id"> = {
  fromAddress: "Zoë Shop <zoe@shop.example>",
  to: ["ada@mx.test"],
  cc: [],
  bcc: [],
  replyTo: null,
  subject: null,
  text: null,
  html: null,
  headers: null,
  raw: null,
  createdAt: new Date(NOW),
  metadata: null,
};

const raw = (id: number, body: string): MessageRow => ({
  ...base,
  id,
  raw: new TextEncoder().encode(
    "From: Zoë Shop <zoe@shop.example>\nTo: ada@mx.test\nSubject: raw\n" +
      `Message-ID: <raw.${id}@shop.example>\nMIME-Version: 1.0\n` +
      "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + body,
  ),
});

const ROWS: MessageRow[] = [
  {
    ...base,
    id: 1,
    subject: "Grüße — structured",
    text: "Hallo Ada,\n.a line with a leading dot\n..two\n.\n\nZoë\n",
    html: "<p>Hallo <b>Ada</b></p>",
  },
  raw(2, "Grüße\n.\n.leading dot\n\n\n"),
  raw(3, "a\rb\r\nc\nd\r\r\n.\r..e"),
];

function delivery(outboxId: number): Delivery {
  return {
    id: 10 + outboxId,
    outboxId,
    recipient: "ada@mx.test",
    domain: "mx.test",
    priority: 1,
    attempts: 0,
    expiresAt: NOW + 86_400_000,
    queuedAt: NOW,
    smtputf8: false,
    leaseToken: 1,
    leaseExpiresAt: NOW + 86_400_000,
  };
}

async function mailauth(message: Uint8Array, k: DkimKeyConfig): Promise<string[]> {
  const record = dkimDnsRecord(k.privateKey!);
  const result = await dkimVerify(Buffer.from(message), {
    resolver: (name: string) =>
      name === `${k.selector}._domainkey.${k.domain}`
        ? Promise.resolve([[record]])
        : Promise.reject(Object.assign(new Error("ENOTFOUND"), { code: "ENOTFOUND" })),
    curTime: new Date(NOW),
  });
  return result.results.map((r) =>
    r.status.result === "pass"
      ? `pass ${r.signingDomain}`
      : `${r.status.result}: ${r.status.comment}`
  );
}

async function dkimpy(messages: Uint8Array[], k: DkimKeyConfig): Promise<(true | string)[]> {
  const child = new Deno.Command(PYTHON, {
    args: [DKIMPY],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify({
    records: { [`${k.selector}._domainkey.${k.domain}`]: dkimDnsRecord(k.privateKey!) },
    messages: messages.map((m) => Buffer.from(m).toString("base64")),
  })));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

for (const algorithm of ["rsa-sha256", "ed25519-sha256"] as const) {
  Deno.test({
    name:
      `SmtpDeliverer sends ${algorithm} signatures over BDAT that verify where Postfix stored them`,
    ignore: requirePeer("postfix", !hasPostfix),
    async fn() {
      await using postfix = await startPostfix();
      const k = shopKey(algorithm);
      const clock = new FakeClock(NOW);
      const routes = buildRouteTable([{ pattern: "*", host: "127.0.0.1", port: postfix.port }]);
      if (!routes.ok) throw new Error(routes.reason);
      const transcript: string[] = [];
      const deliverer = new SmtpDeliverer({
        clock,
        router: createRouter({
          resolver: new FakeResolver(),
          random: () => 0.5,
          routes: routes.table,
        }),
        messages: new MessageSource({
          load: (id) => Promise.resolve(ROWS.find((r) => r.id === id)),
          clock,
          messageIdDomain: "relay.test",
          signer: createDkimSigner({ keys: [k], clock }),
        }),
        heloName: "relay.test",
        tlsPolicy: () => "opportunistic",
        trace: (e) => e.direction === "out" && transcript.push(e.line),
      });
      const signal = new AbortController().signal;
      const connected = await deliverer.connect("mx.test", signal);
      assert.equal(connected.kind, "connected");
      if (connected.kind !== "connected") return;
      try {
        for (const row of ROWS) {
          const results = await connected.session.send(row.id, [delivery(row.id)], signal);
          assert.deepEqual(results.map((r) => r.kind), ["delivered"], JSON.stringify(results));
        }
      } finally {
        await connected.session.close();
      }
      assert.equal(transcript.filter((l) => l.startsWith("BDAT ")).length, ROWS.length);
      assert.ok(!transcript.includes("DATA"));

      // Postfix stores LF line ends, its trace headers on top (not signed).
      const stored = (await postfix.delivered(ROWS.length)).map((f) =>
        new TextEncoder().encode(new TextDecoder().decode(f).replaceAll("\n", "\r\n"))
      );
      for (const [i, m] of stored.entries()) {
        assert.deepEqual(await mailauth(m, k), ["pass shop.example"], `message ${i}`);
      }
      assert.deepEqual(await dkimpy(stored, k), stored.map(() => true));
      // The verifiers can fail: a changed byte fails.
      const altered = new TextEncoder().encode(
        new TextDecoder().decode(stored[0]).replace("Hallo Ada", "Hallo Bob"),
      );
      assert.notDeepEqual(await mailauth(altered, k), ["pass shop.example"]);
      const [py] = await dkimpy([altered], k);
      assert.notEqual(py, true);
    },
  });
}
