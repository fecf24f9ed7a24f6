/**
 * The POP3 client against a real Dovecot from Debian's packages, on loopback. Skipped when
 * /usr/sbin/dovecot is absent. Deadlines run on a FakeClock that never moves: nothing here
 * depends on real time.
 */
import assert from "node:assert/strict";
import {
  openPop3,
  type Pop3Client,
  type Pop3Endpoint,
  type Pop3TraceEvent,
} from "../../../relay/pop3/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { dovecotAvailable, type DovecotPeer, startDovecot } from "../../_peers/dovecot.ts";
import { requirePeer } from "../../_support/peers.ts";

const ignore = requirePeer("dovecot", !dovecotAvailable);
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

const MESSAGE =
  "From: a@example.com\nTo: b@example.org\nSubject: dots\nMessage-ID: <m1@example.com>\n\n" +
  "first\n.leading dot\n..two dots\n.\nlast line\n";

function endpoint(d: DovecotPeer, tls: Pop3Endpoint["tls"]): Pop3Endpoint {
  return {
    host: d.host,
    port: tls === "implicit" ? d.pop3sPort : d.pop3Port,
    tls,
    caCerts: [d.caCert],
  };
}

async function open(
  d: DovecotPeer,
  tls: Pop3Endpoint["tls"],
  extra: { allowPlaintextAuth?: boolean; trace?: (e: Pop3TraceEvent) => void } = {},
): Promise<Pop3Client> {
  const opened = await openPop3(endpoint(d, tls), { clock: new FakeClock(), ...extra });
  assert.equal(opened.kind, "ok", JSON.stringify(opened));
  if (opened.kind !== "ok") throw new Error("unreachable");
  return opened.value;
}

Deno.test({
  name: "openPop3() with STLS logs in with USER/PASS and retrieves exact bytes",
  ignore,
  fn: async () => {
    await using dovecot = await startDovecot();
    await dovecot.deliver("dots", MESSAGE);
    const trace: Pop3TraceEvent[] = [];
    const client = await open(dovecot, "starttls", { trace: (e) => trace.push(e) });
    assert.equal(client.tls, true);
    const caps = await client.capa();
    assert.ok(caps.kind === "ok" && caps.value.has("UIDL") && !caps.value.has("STLS"));
    assert.equal((await client.login(dovecot.user, dovecot.password)).kind, "ok");
    const stat = await client.stat();
    assert.deepEqual(stat.kind === "ok" && stat.value.count, 1);
    const retr = await client.retr(1);
    // Dovecot serves the Maildir file with CRLF line ends and byte-stuffs it; we undo both.
    assert.equal(retr.kind === "ok" && decode(retr.value), MESSAGE.replaceAll("\n", "\r\n"));
    const top = await client.top(1, 1);
    assert.ok(top.kind === "ok" && decode(top.value).endsWith("\r\n\r\nfirst\r\n"));
    assert.equal((await client.quit()).kind, "ok");
    const lines = trace.map((e) => e.line).join("\n");
    assert.ok(lines.includes("PASS ****"));
    assert.ok(!lines.includes(dovecot.password));
  },
});

Deno.test({
  name: "openPop3() speaks POP3 over implicit TLS on the pop3s port",
  ignore,
  fn: async () => {
    await using dovecot = await startDovecot();
    const client = await open(dovecot, "implicit");
    assert.equal(client.tls, true);
    assert.equal((await client.login(dovecot.user, dovecot.password)).kind, "ok");
    const stat = await client.stat();
    assert.deepEqual(stat.kind === "ok" && stat.value, { count: 0, size: 0 });
    assert.equal((await client.quit()).kind, "ok");
  },
});

Deno.test({
  name: "openPop3() fails the TLS handshake against an untrusted certificate",
  ignore,
  fn: async () => {
    await using dovecot = await startDovecot();
    await assert.rejects(() =>
      openPop3({ host: dovecot.host, port: dovecot.pop3sPort, tls: "implicit" }, {
        clock: new FakeClock(),
      })
    );
  },
});

Deno.test({
  name: "Pop3Client.apop() authenticates against Dovecot without TLS",
  ignore,
  fn: async () => {
    await using dovecot = await startDovecot();
    const client = await open(dovecot, "none");
    assert.ok(client.apopTimestamp?.startsWith("<"));
    assert.equal((await client.apop(dovecot.user, dovecot.password)).kind, "ok");
    assert.equal(client.state, "transaction");
    assert.equal((await client.quit()).kind, "ok");
  },
});

Deno.test({
  name: "Pop3Client.login() without TLS is refused locally, and a bad password by Dovecot",
  ignore,
  fn: async () => {
    await using dovecot = await startDovecot();
    const plain = await open(dovecot, "none");
    assert.equal((await plain.login(dovecot.user, dovecot.password)).kind, "refused");
    plain.close();
    const tls = await open(dovecot, "starttls");
    const bad = await tls.login(dovecot.user, "not-the-password");
    assert.equal(bad.kind, "err");
    assert.equal(bad.kind === "err" && bad.code, "AUTH");
    tls.close();
  },
});

Deno.test({
  name: "Pop3Client.dele() deletes only at QUIT: a dropped session keeps every message",
  ignore,
  fn: async () => {
    await using dovecot = await startDovecot();
    await dovecot.deliver("one", MESSAGE);
    await dovecot.deliver("two", MESSAGE.replace("<m1@", "<m2@"));
    const first = await open(dovecot, "implicit");
    await first.login(dovecot.user, dovecot.password);
    const before = await first.uidl();
    assert.equal(before.kind === "ok" && before.value.length, 2);
    assert.equal((await first.dele(1)).kind, "ok");
    assert.equal((await first.dele(2)).kind, "ok");
    first.close(); // a crash: no QUIT, RFC 1939 §6 says nothing is deleted
    assert.equal(await dovecot.count(), 2);

    const second = await open(dovecot, "implicit");
    await second.login(dovecot.user, dovecot.password);
    const again = await second.uidl();
    // UIDLs are persistent across sessions (RFC 1939 §7): the processor's markers rely on it.
    assert.deepEqual(again.kind === "ok" && again.value, before.kind === "ok" && before.value);
    assert.equal((await second.dele(1)).kind, "ok");
    assert.equal((await second.quit()).kind, "ok");
    assert.equal(await dovecot.count(), 1);
  },
});
