/**
 * SmtpDeliverer moving a session on to the next MX host (RFC 5321 §5.1) when the host it reached
 * refuses a transaction as a whole for now (every recipient a 4xx), and not when the refusal is
 * a throttle or only part of the transaction.
 */
import assert from "node:assert/strict";
import type { Delivery, RecipientResult } from "../../../actors/ports.ts";
import { SmtpDeliverer } from "../../../relay/adapters/smtp_deliverer.ts";
import { MessageSource } from "../../../relay/adapters/message_source.ts";
import { createRouter } from "../../../relay/dns/mod.ts";
import { denoConnect } from "../../../relay/smtp/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import {
  esmtp,
  type EsmtpReplies,
  type ScriptedPeer,
  startScriptedPeer,
} from "../../_fakes/scripted_smtp_peer.ts";
import { freePort } from "../../_support/postgres_cluster.ts";

const NO_VALID_RECIPIENTS = "554 5.5.1 Error: no valid recipients";

function delivery(id: number, recipient: string): Delivery {
  return {
    id,
    outboxId: 1,
    recipient,
    domain: "mx.test",
    priority: 1,
    attempts: 0,
    expiresAt: Date.UTC(2030, 0, 2),
    smtputf8: false,
    leaseToken: 1,
    leaseExpiresAt: Date.UTC(2030, 0, 2),
  };
}

/** MX hosts mx1.mx.test, mx2... in that order: a scripted peer each, or `null` (refuses). */
function hosts(replies: readonly (EsmtpReplies | null)[]) {
  const peers: (ScriptedPeer | null)[] = replies.map((r) => r && startScriptedPeer(esmtp(r)));
  const resolver = new FakeResolver({
    "mx.test": {
      mx: replies.map((_, i) => ({ preference: i + 1, exchange: `mx${i + 1}.mx.test` })),
    },
  });
  replies.forEach((_, i) => resolver.set(`mx${i + 1}.mx.test`, { a: [`127.0.0.${21 + i}`] }));
  const closed = freePort();
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const deliverer = new SmtpDeliverer({
    clock,
    router: createRouter({ resolver, random: () => 0.5 }),
    messages: new MessageSource({
      load: (id) =>
        Promise.resolve({
          id,
          fromAddress: "shop@ferry.test",
          to: ["a@mx.test"],
          cc: [],
          bcc: [],
          replyTo: null,
          subject: "hello",
          text: "body",
          html: null,
          headers: null,
          raw: null,
          createdAt: new Date(Date.UTC(2030, 0, 1)),
          metadata: null,
        }),
      clock,
      messageIdDomain: "relay.test",
    }),
    heloName: "relay.test",
    tlsPolicy: () => "opportunistic",
    connect: (address, _port, signal) => {
      const peer = peers[Number(address.split(".")[3]) - 21];
      return denoConnect("127.0.0.1", peer ? peer.port : closed, signal);
    },
  });
  return {
    deliverer,
    peers,
    /** Command verbs each host heard, in order. */
    heard: () =>
      peers.map((p) => p?.links.flatMap((l) => l.lines.map((x) => x.split(/[ :]/)[0])) ?? []),
    async [Symbol.asyncDispose]() {
      for (const p of peers) await p?.close();
    },
  };
}

async function sendOnce(
  d: SmtpDeliverer,
  recipients: readonly Delivery[],
  times = 1,
): Promise<{ results: RecipientResult[][]; mxHost: string }> {
  const connected = await d.connect("mx.test", new AbortController().signal);
  if (connected.kind !== "connected") throw new Error(`not connected: ${connected.result.reply}`);
  const results: RecipientResult[][] = [];
  try {
    for (let i = 0; i < times; i++) {
      results.push(await connected.session.send(1, recipients, new AbortController().signal));
    }
    return { results, mxHost: connected.session.mxHost };
  } finally {
    await connected.session.close();
  }
}

const A = delivery(1, "a@mx.test");
const B = delivery(2, "b@mx.test");

Deno.test("SmtpDeliverer moves a transaction whose every RCPT gets a 4xx to the next MX, and stays there", async () => {
  const messages: Uint8Array[] = [];
  await using h = hosts([
    { rcpt: "451 4.3.0 Temporary lookup failure", data: NO_VALID_RECIPIENTS },
    { onMessage: (m) => messages.push(m) },
  ]);
  const { results, mxHost } = await sendOnce(h.deliverer, [A, B], 2);
  for (const r of results.flat()) {
    assert.equal(r.kind, "delivered");
    assert.equal(r.mxHost, "mx2.mx.test", "the record names the host that took it");
  }
  assert.equal(mxHost, "mx2.mx.test");
  assert.equal(messages.length, 2, "both transactions at the second host");
  const [first, second] = h.heard();
  assert.deepEqual(first, ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"], "left with QUIT");
  assert.deepEqual(second!.filter((v) => v === "MAIL").length, 2);
});

Deno.test("SmtpDeliverer walks on past a host that refuses the connection to one that takes the mail", async () => {
  const messages: Uint8Array[] = [];
  await using h = hosts([
    { rcpt: "450 4.2.0 Mailbox busy", data: NO_VALID_RECIPIENTS },
    null,
    { onMessage: (m) => messages.push(m) },
  ]);
  const { results } = await sendOnce(h.deliverer, [A]);
  assert.deepEqual(results[0]!.map((r) => [r.kind, r.mxHost]), [["delivered", "mx3.mx.test"]]);
  assert.equal(messages.length, 1);
});

Deno.test("SmtpDeliverer keeps a throttling reply at the host that gave it (no failover, slow down)", async () => {
  await using h = hosts([
    { rcpt: "451 4.7.0 rate limited", data: NO_VALID_RECIPIENTS },
    {},
  ]);
  const { results, mxHost } = await sendOnce(h.deliverer, [A, B]);
  for (const r of results[0]!) {
    assert.equal(r.kind, "transient");
    assert.equal(r.kind === "transient" && r.slowDown, true);
    assert.equal(r.mxHost, undefined, "said by the session's own host");
  }
  assert.equal(mxHost, "mx1.mx.test");
  assert.deepEqual(h.heard()[1], [], "the second host never contacted");
});

Deno.test("SmtpDeliverer keeps a transaction the host partly took (only some RCPTs refused)", async () => {
  await using h = hosts([
    { rcpt: (line) => line.includes("b@") ? "450 4.2.1 Mailbox busy" : "250 2.1.5 Ok" },
    {},
  ]);
  const { results } = await sendOnce(h.deliverer, [A, B]);
  assert.deepEqual(results[0]!.map((r) => r.kind), ["delivered", "transient"]);
  assert.deepEqual(h.heard()[1], []);
});

Deno.test("SmtpDeliverer keeps the last host's refusal when every host refuses for now", async () => {
  await using h = hosts([
    { rcpt: "451 4.3.0 Temporary lookup failure", data: NO_VALID_RECIPIENTS },
    { rcpt: "452 4.3.1 Insufficient system storage", data: NO_VALID_RECIPIENTS },
  ]);
  const { results } = await sendOnce(h.deliverer, [A]);
  const [r] = results[0]!;
  assert.equal(r!.kind, "transient");
  assert.equal(r!.reply, "452 4.3.1 Insufficient system storage");
  assert.equal(r!.mxHost, "mx2.mx.test");
});

Deno.test("SmtpDeliverer with one MX host defers as before", async () => {
  await using h = hosts([{
    rcpt: "451 4.3.0 Temporary lookup failure",
    data: NO_VALID_RECIPIENTS,
  }]);
  const { results } = await sendOnce(h.deliverer, [A]);
  assert.deepEqual(results[0]!.map((r) => [r.kind, r.mxHost]), [["transient", undefined]]);
});
