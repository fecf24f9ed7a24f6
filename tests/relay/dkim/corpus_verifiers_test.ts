/**
 * DKIM as independent verifiers see it: a corpus of 90 messages (bare CR, bare LF, CRLF and mixed
 * line ends; trailing white space; empty trailing lines; dot-leading lines; lines over 998 octets
 * in structured bodies; UTF-8; html; attachments; raw and structured) goes through the relay's
 * real sending path (MessageSource → DKIM signer → SmtpDeliverer → npm smtp-server on loopback),
 * and the bytes the receiver got are verified by dkimpy (python3-dkim) and by OpenDKIM
 * (opendkim-testmsg), for rsa-sha256 and ed25519-sha256. Every message must verify with both.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { shopKey } from "./_keys.ts";
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
import { startSmtpServer } from "../smtp/_smtp_server.ts";

// Now, not a fixed date: dkimpy refuses a signature whose t= lies in the future.
const NOW = Math.floor(Date.now() / 1000) * 1000;
const PYTHON = "/usr/bin/python3";
const here = new URL(".", import.meta.url).pathname;

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
const hasDkimpy = exists("/usr/lib/python3/dist-packages/dkim/__init__.py") && exists(PYTHON);
const hasOpendkim = (exists("/usr/sbin/opendkim-testmsg") || exists("/usr/bin/opendkim-testmsg")) &&
  exists("/usr/bin/unshare") && Deno.uid() === 0;

const ENDINGS: Record<string, (text: string) => string> = {
  lf: (t) => t,
  crlf: (t) => t.replaceAll("\n", "\r\n"),
  cr: (t) => t.replaceAll("\n", "\r"),
  mixed: (t) => t.split("\n").map((l, i) => l + ["\r\n", "\n", "\r"][i % 3]).join("").slice(0, -1),
};

const BODIES: Record<string, string> = {
  plain: "Hello Ada,\nthis is a message.\n",
  trailingSpace: "a line with spaces   \nand tabs\t\t\n  \n",
  emptyTrailing: "text\n\n\n\n",
  dots: ".\n..\n.leading dot\n...\n",
  utf8: "Grüße, Zoë — ✓ 日本語\n",
  noFinalNewline: "the end without a newline",
  bareCrInside: "a\rb\r\nc\nd\r\r\ne\n",
  blankLines: "\n\nstarts with blank lines\n",
  onlyEmptyLines: "\n\n\n",
  singleSpaces: "one space between words, none at the ends\nand a second line\n\n",
};

function rows(): MessageRow[] {
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
  const out: MessageRow[] = [];
  let id = 1;
  for (const [ending, apply] of Object.entries(ENDINGS)) {
    for (const [name, body] of Object.entries(BODIES)) {
      out.push({ ...base, id: id++, subject: `text ${name} ${ending}`, text: apply(body) });
      out.push({
        ...base,
        id: id++,
        raw: new TextEncoder().encode(apply(
          `From: Zoë Shop <zoe@shop.example>\nTo: ada@x.test\nSubject: raw ${name} ${ending}\n` +
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n" +
            `Content-Transfer-Encoding: 8bit\n\n${body}`,
        )),
      });
    }
    out.push({
      ...base,
      id: id++,
      subject: `html ${ending}`,
      text: apply("plain part\n"),
      html: apply("<p>Hello\n<b>Ada</b></p>\n\n"),
    });
    out.push({
      ...base,
      id: id++,
      subject: `long lines ${ending}`,
      text: apply(`${"x".repeat(1500)}\n${"word ".repeat(400)}\n`),
    });
  }
  // Raw MIME with an attachment, in two line-end styles.
  for (const ending of ["lf", "crlf"]) {
    out.push({
      ...base,
      id: id++,
      raw: new TextEncoder().encode(ENDINGS[ending]!(
        "From: zoe@shop.example\nTo: ada@x.test\nSubject: attachment\nMIME-Version: 1.0\n" +
          'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\n' +
          "Content-Type: text/plain\n\nSee attached.\n--b1\n" +
          'Content-Type: application/octet-stream; name="a.bin"\n' +
          "Content-Transfer-Encoding: base64\n\n" +
          `${btoa("binary \x00\x01\x02 data ".repeat(20))}\n--b1--\n`,
      )),
    });
  }
  return out;
}

function delivery(outboxId: number): Delivery {
  return {
    id: outboxId,
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

/** Sends every row through the real path; returns the bytes the receiver got, in order. */
async function sendAll(corpus: MessageRow[], k: DkimKeyConfig): Promise<Uint8Array[]> {
  await using server = await startSmtpServer({ size: 50 * 1024 * 1024 });
  const clock = new FakeClock(NOW);
  const routes = buildRouteTable([{ pattern: "*", host: "127.0.0.1", port: server.port }]);
  if (!routes.ok) throw new Error(routes.reason);
  const byId = new Map(corpus.map((r) => [r.id, r]));
  const deliverer = new SmtpDeliverer({
    clock,
    router: createRouter({ resolver: new FakeResolver(), random: () => 0.5, routes: routes.table }),
    messages: new MessageSource({
      load: (id) => Promise.resolve(byId.get(id)),
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
  if (connected.kind !== "connected") return [];
  try {
    for (const row of corpus) {
      const results = await connected.session.send(row.id, [delivery(row.id)], signal);
      assert.deepEqual(results.map((r) => r.kind), ["delivered"], JSON.stringify(results));
    }
  } finally {
    await connected.session.close();
  }
  assert.equal(server.messages.length, corpus.length);
  return server.messages.map((m) => m.content);
}

async function verifyWith(
  script: string,
  argv: string[],
  k: DkimKeyConfig,
  messages: Uint8Array[],
): Promise<(true | string)[]> {
  const child = new Deno.Command(argv[0]!, {
    args: [...argv.slice(1), `${here}${script}`],
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
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `${script} failed: ${stderr}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

for (const algorithm of ["rsa-sha256", "ed25519-sha256"] as const) {
  Deno.test({
    name:
      `DKIM ${algorithm}: a corpus of ${rows().length} messages verifies with dkimpy and OpenDKIM`,
    ignore: requirePeer("dkimpy, opendkim-tools", !hasDkimpy || !hasOpendkim),
    async fn() {
      const corpus = rows();
      assert.ok(corpus.length >= 60, `${corpus.length} messages`);
      const k = shopKey(algorithm);
      const received = await sendAll(corpus, k);
      for (const m of received) {
        const text = new TextDecoder().decode(m);
        assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(text), "no bare CR or LF on the wire");
        assert.ok(text.split("\r\n").every((l) => l.length <= 998), "no line over 998 octets");
      }
      const verifiers = [
        ["dkimpy", await verifyWith("_dkimpy_verify.py", [PYTHON], k, received)],
        [
          "OpenDKIM",
          await verifyWith(
            "_opendkim_verify.py",
            ["unshare", "--net", "--mount", PYTHON],
            k,
            received,
          ),
        ],
      ] as const;
      for (const [name, results] of verifiers) {
        const failed = results.flatMap((r, i) =>
          r === true ? [] : [`${corpus[i]!.subject ?? `raw #${corpus[i]!.id}`}: ${r}`]
        );
        console.log(`${algorithm} ${name}: ${results.length - failed.length}/${results.length}`);
        assert.deepEqual(failed, [], `${name} did not verify`);
      }
      // The verifiers can fail: a changed byte fails both.
      const altered = new TextEncoder().encode(
        new TextDecoder().decode(received[0]).replace("Hello Ada", "Hello Bob"),
      );
      const [py] = await verifyWith("_dkimpy_verify.py", [PYTHON], k, [altered]);
      const [od] = await verifyWith(
        "_opendkim_verify.py",
        ["unshare", "--net", "--mount", PYTHON],
        k,
        [altered],
      );
      assert.notEqual(py, true);
      assert.notEqual(od, true);
    },
  });
}
