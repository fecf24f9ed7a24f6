/**
 * DKIM through the whole sending path: an outbox row composed (or passed raw), signed by the
 * relay's MessageSource, dot-stuffed and sent by SmtpDeliverer into npm smtp-server on loopback;
 * the bytes as the receiver got them verify with an independent verifier (mailauth), for
 * rsa-sha256 and ed25519-sha256, for a structured and a raw message.
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
import { startSmtpServer } from "../smtp/_smtp_server.ts";

const NOW = Date.UTC(2030, 0, 1, 9);

const base: Omit<MessageRow, "id"> = {
  fromAddress: "Zoë Shop <zoe@shop.example>",
  to: ["ada@x.test"],
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

const ROWS: Record<number, MessageRow> = {
  1: {
    ...base,
    id: 1,
    subject: "Grüße — structured",
    text: "Hallo Ada,\n.a line with a leading dot\n..two\n\nZoë\n",
    html: "<p>Hallo <b>Ada</b></p>",
    headers: { "List-Unsubscribe": "<mailto:unsub@shop.example>" },
  },
  // Bare LF line ends, dot lines and 8-bit UTF-8: normalised and stuffed on the way.
  2: {
    ...base,
    id: 2,
    raw: new TextEncoder().encode(
      "From: Zoë Shop <zoe@shop.example>\nTo: ada@x.test\nSubject: raw\n" +
        "Message-ID: <raw.2@shop.example>\nMIME-Version: 1.0\n" +
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" +
        "Grüße\n.\n.leading dot\n\n\n",
    ),
  },
};

function delivery(outboxId: number): Delivery {
  return {
    id: 10 + outboxId,
    outboxId,
    recipient: "ada@x.test",
    domain: "x.test",
    priority: 1,
    attempts: 0,
    expiresAt: NOW + 86_400_000,
    smtputf8: false,
    leaseToken: 1,
    leaseExpiresAt: NOW + 86_400_000,
  };
}

async function verify(message: Uint8Array, k: DkimKeyConfig): Promise<string[]> {
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

for (const algorithm of ["rsa-sha256", "ed25519-sha256"] as const) {
  Deno.test(`SmtpDeliverer sends ${algorithm} signatures that verify at the receiver, structured and raw`, async () => {
    await using server = await startSmtpServer();
    const k = shopKey(algorithm);
    const clock = new FakeClock(NOW);
    const routes = buildRouteTable([{ pattern: "*", host: "127.0.0.1", port: server.port }]);
    if (!routes.ok) throw new Error(routes.reason);
    const deliverer = new SmtpDeliverer({
      clock,
      router: createRouter({
        resolver: new FakeResolver(),
        random: () => 0.5,
        routes: routes.table,
      }),
      messages: new MessageSource({
        load: (id) => Promise.resolve(ROWS[id]),
        clock,
        messageIdDomain: "relay.test",
        signer: createDkimSigner({ keys: [k], clock }),
      }),
      heloName: "relay.test",
      tlsPolicy: () => "opportunistic",
    });
    const signal = new AbortController().signal;
    const connected = await deliverer.connect("x.test", signal);
    assert.equal(connected.kind, "connected");
    if (connected.kind !== "connected") return;
    try {
      for (const id of [1, 2]) {
        const results = await connected.session.send(id, [delivery(id)], signal);
        assert.deepEqual(results.map((r) => r.kind), ["delivered"], JSON.stringify(results));
      }
    } finally {
      await connected.session.close();
    }

    assert.equal(server.messages.length, 2);
    for (const [i, received] of server.messages.entries()) {
      const text = new TextDecoder().decode(received.content);
      assert.match(text, new RegExp(`^DKIM-Signature: v=1; a=${algorithm}; c=relaxed/relaxed;`));
      assert.deepEqual(await verify(received.content, k), ["pass shop.example"], `message ${i}`);
      // A change on the way would have been caught: the same bytes altered fail.
      const altered = new TextEncoder().encode(text.replace("Subject: ", "Subject: Re: "));
      assert.notDeepEqual(await verify(altered, k), ["pass shop.example"]);
    }
    // The raw message arrived CRLF-normalised, its dot lines intact.
    const raw = new TextDecoder().decode(server.messages[1]!.content);
    assert.ok(raw.endsWith("\r\n\r\nGrüße\r\n.\r\n.leading dot\r\n\r\n\r\n"), JSON.stringify(raw));
    assert.ok(!/[^\r]\n/.test(raw), "no bare LF");
  });
}
