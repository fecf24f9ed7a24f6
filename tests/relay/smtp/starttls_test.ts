/**
 * STARTTLS (RFC 3207) by policy against npm smtp-server with a certificate from a throwaway CA,
 * a scripted peer whose "TLS" is garbage, and the memory of broken peers.
 */
import assert from "node:assert/strict";
import { connectSmtp, type Failure, type OpenResult } from "../../../relay/smtp/mod.ts";
import { BrokenTlsPeers, type ByteStream } from "../../../relay/tls/mod.ts";
import { Secret } from "../../../lib/secret.ts";
import { esmtp, type PeerLink, startScriptedPeer } from "../../_fakes/scripted_smtp_peer.ts";
import { hasOpenssl, testPki } from "../tls/_test_certs.ts";
import { drive, mustConnect, only, simpleMessage, testOptions } from "./_helpers.ts";
import { startSmtpServer } from "./_smtp_server.ts";
import { requirePeer } from "../../_support/peers.ts";

const ignore = requirePeer("openssl", !hasOpenssl);
const envelope = {
  mailFrom: "sender@ferry.test",
  recipients: ["rcpt@peer.test"],
  message: simpleMessage(),
};

async function tlsServer(options: Parameters<typeof startSmtpServer>[0] = {}) {
  const pki = await testPki();
  return await startSmtpServer({
    key: pki.keyPem,
    cert: pki.certPem,
    disabledCommands: [],
    ...options,
  });
}

function failureOf(opened: OpenResult): Failure {
  if (opened.kind !== "failed") return assert.fail("expected the session to fail");
  return opened.failure;
}

Deno.test({
  name: "connectSmtp() upgrades with STARTTLS under the opportunistic policy and says EHLO again",
  ignore,
  async fn() {
    await using server = await tlsServer();
    const options = testOptions({ peerName: "mx.test" });
    const session = await mustConnect(server.port, options);
    assert.equal(session.tls, true);
    assert.equal(session.capabilities.startTls, false, "capabilities come from the EHLO after TLS");
    assert.equal(only(await session.send(envelope)).kind, "delivered");
    await session.quit();
    assert.equal(server.messages[0]!.secure, true);
    const out = options.transcript.filter((e) => e.direction === "out").map((e) => e.line);
    assert.deepEqual(out.slice(0, 3), [
      "EHLO relay.ferry.test",
      "STARTTLS",
      "EHLO relay.ferry.test",
    ]);
  },
});

Deno.test({
  name: "connectSmtp() verifies the certificate and host name under the verified policy",
  ignore,
  async fn() {
    const pki = await testPki();
    await using server = await tlsServer();
    const good = await mustConnect(
      server.port,
      testOptions({ peerName: "mx.test", tlsPolicy: "verified", caCerts: [pki.caPem] }),
    );
    assert.equal(good.tls, true);
    assert.equal(only(await good.send(envelope)).kind, "delivered");
    await good.quit();

    const memory = new BrokenTlsPeers({ clock: testOptions().clock });
    const cases = [
      ["wrong.test", [pki.caPem], "certificate-host-mismatch"],
      ["mx.test", [], "certificate-not-trusted"],
    ] as const;
    for (const [peerName, caCerts, type] of cases) {
      const opened = await connectSmtp(
        "127.0.0.1",
        server.port,
        testOptions({ peerName, tlsPolicy: "verified", caCerts, brokenTls: memory }),
      );
      const failure = failureOf(opened);
      assert.equal(failure.kind, "transient");
      assert.equal(failure.scope, "connection");
      assert.equal(failure.enhanced, "4.7.5");
      assert.equal(opened.kind === "failed" && opened.tls, type, "the RFC 8460 result type");
    }
    assert.deepEqual(memory.list(), [], "a verification failure is not a broken handshake");
  },
});

Deno.test({
  name: "connectSmtp() refuses a peer without STARTTLS under the required policy",
  ignore,
  async fn() {
    await using server = await startSmtpServer(); // STARTTLS disabled
    for (const tlsPolicy of ["required", "verified"] as const) {
      const options = testOptions({ tlsPolicy });
      const opened = await connectSmtp("127.0.0.1", server.port, options);
      const failure = failureOf(opened);
      assert.equal(failure.kind, "transient");
      assert.equal(failure.scope, "connection");
      assert.equal(failure.enhanced, "4.7.4");
      assert.equal(opened.kind === "failed" && opened.tls, "starttls-not-supported");
      const out = options.transcript.filter((e) => e.direction === "out").map((e) => e.line);
      assert.deepEqual(out, ["EHLO relay.ferry.test", "QUIT"]);
    }
    assert.equal(server.messages.length, 0);
  },
});

const TLS_EHLO = ["250-peer.test", "250-PIPELINING", "250-8BITMIME", "250 STARTTLS"];

/** Says 220 to STARTTLS, then answers the ClientHello with plain text and hangs up. */
async function junkHandshake(link: PeerLink): Promise<void> {
  await link.reply("220 2.0.0 Ready to start TLS");
  await link.readSome(); // the ClientHello
  await link.send("This is not TLS at all\r\n");
  link.close();
}

Deno.test("connectSmtp() remembers a failed handshake and goes without TLS next time, if opportunistic", async () => {
  const received: Uint8Array[] = [];
  await using peer = startScriptedPeer(
    esmtp({ ehlo: TLS_EHLO, starttls: junkHandshake, onMessage: (m) => received.push(m) }),
  );
  const clock = testOptions().clock;
  const memory = new BrokenTlsPeers({ clock });
  const attempt = (tlsPolicy: "opportunistic" | "required") =>
    testOptions({ clock, peerName: "mx.test", brokenTls: memory, tlsPolicy });

  const first = failureOf(await connectSmtp("127.0.0.1", peer.port, attempt("opportunistic")));
  assert.equal(first.kind, "transient");
  assert.equal(first.scope, "connection");
  assert.equal(first.enhanced, "4.7.5");
  assert.deepEqual(memory.list().map((e) => e.peer), ["mx.test"]);

  // A policy that requires TLS never downgrades: it tries again, and fails again.
  const strict = attempt("required");
  assert.equal(failureOf(await connectSmtp("127.0.0.1", peer.port, strict)).enhanced, "4.7.5");
  assert.ok(strict.transcript.some((e) => e.line === "STARTTLS"));

  const options = attempt("opportunistic");
  const session = await mustConnect(peer.port, options);
  assert.equal(session.tls, false);
  assert.equal(only(await session.send(envelope)).kind, "delivered");
  await session.quit();
  assert.ok(!options.transcript.some((e) => e.line === "STARTTLS"));
  assert.ok(
    options.transcript.some((e) => e.direction === "note" && /remembered-broken/.test(e.line)),
  );
  assert.equal(received.length, 1);
});

Deno.test("connectSmtp() refuses plaintext injected after the 220 to STARTTLS", async () => {
  await using peer = startScriptedPeer(
    esmtp({ ehlo: TLS_EHLO, starttls: "220 Go ahead\r\n250 injected" }),
  );
  const failure = failureOf(await connectSmtp("127.0.0.1", peer.port, testOptions()));
  assert.equal(failure.kind, "transient");
  assert.equal(failure.enhanced, "4.5.0");
  assert.match(failure.text, /data after its 220 to STARTTLS/);
});

Deno.test("connectSmtp() goes on without TLS when STARTTLS is refused, unless TLS is required", async () => {
  await using peer = startScriptedPeer(
    esmtp({ ehlo: TLS_EHLO, starttls: "454 4.7.0 TLS not available" }),
  );
  const session = await mustConnect(peer.port, testOptions());
  assert.equal(session.tls, false);
  assert.equal(only(await session.send(envelope)).kind, "delivered");
  await session.quit();
  const failure = failureOf(
    await connectSmtp("127.0.0.1", peer.port, testOptions({ tlsPolicy: "required" })),
  );
  assert.deepEqual([failure.kind, failure.scope, failure.code], ["transient", "connection", 454]);
});

Deno.test("connectSmtp() times out a TLS handshake that never completes, on the injected clock", async () => {
  await using peer = startScriptedPeer(esmtp({ ehlo: TLS_EHLO, starttls: "220 Go ahead" }));
  const options = testOptions({
    timeouts: { connect: 3_600_000 },
    // An injected upgrade that hangs until aborted, like a peer that never answers ClientHello.
    startTls: (stream, { signal }) =>
      new Promise((_resolve, reject) =>
        signal?.addEventListener("abort", () => {
          stream.close();
          reject(signal.reason);
        })
      ),
  });
  const failure = failureOf(
    await drive(options.clock, connectSmtp("127.0.0.1", peer.port, options), 10_000),
  );
  assert.equal(failure.enhanced, "4.7.5");
  assert.match(failure.text, /Timed out after 300000 ms/);
});

Deno.test({
  name: "connectSmtp() authenticates over TLS with PLAIN and LOGIN, redacting the transcript",
  ignore,
  async fn() {
    const users: string[] = [];
    await using server = await tlsServer({
      authMethods: ["PLAIN", "LOGIN"],
      onAuth(auth, _session, callback) {
        if (auth.username === "ferry" && auth.password === "s3cret-pw") {
          users.push(`${auth.method}:${auth.username}`);
          return callback(null, { user: auth.username });
        }
        callback(Object.assign(new Error("Invalid credentials"), { responseCode: 535 }));
      },
    });
    for (const mechanism of ["PLAIN", "LOGIN"] as const) {
      // A Secret is revealed only to encode it; a plain string works as well.
      const password = mechanism === "PLAIN" ? new Secret("s3cret-pw") : "s3cret-pw";
      const options = testOptions({
        peerName: "mx.test",
        auth: { username: "ferry", password, mechanism },
      });
      if (password instanceof Secret) {
        assert.ok(
          !Deno.inspect(options, { depth: 10 }).includes("s3cret-pw"),
          "options print bare",
        );
      }
      const session = await mustConnect(server.port, options);
      assert.equal(only(await session.send(envelope)).kind, "delivered");
      await session.quit();
      const transcript = options.transcript.map((e) => e.line).join("\n");
      assert.ok(!transcript.includes("s3cret-pw"));
      assert.ok(!transcript.includes(btoa("s3cret-pw")));
      assert.ok(!transcript.includes(btoa("\u0000ferry\u0000s3cret-pw")));
      assert.match(transcript, /<redacted>/);
    }
    assert.deepEqual(users, ["PLAIN:ferry", "LOGIN:ferry"]);

    const wrong = testOptions({
      peerName: "mx.test",
      auth: { username: "ferry", password: "nope" },
    });
    const opened = await connectSmtp("127.0.0.1", server.port, wrong);
    const failure = failureOf(opened);
    assert.deepEqual([failure.kind, failure.scope, failure.code], ["transient", "connection", 535]);
    assert.equal(opened.kind === "failed" && opened.stage, "auth", "marked as refused at AUTH");
  },
});

Deno.test("connectSmtp() refuses to send AUTH over an unencrypted connection", async () => {
  await using peer = startScriptedPeer(esmtp({ ehlo: ["250-peer.test", "250 AUTH PLAIN LOGIN"] }));
  const options = testOptions({ auth: { username: "ferry", password: "s3cret-pw" } });
  const opened = await connectSmtp("127.0.0.1", peer.port, options);
  const failure = failureOf(opened);
  assert.deepEqual([failure.kind, failure.scope, failure.enhanced], [
    "transient",
    "connection",
    "4.7.11",
  ]);
  assert.ok(!peer.links[0]!.lines.some((l) => l.startsWith("AUTH")));
  assert.equal(
    opened.kind === "failed" && opened.stage,
    undefined,
    "Ferry's refusal, not the peer's",
  );
});

Deno.test({
  name: "connectSmtp() speaks implicit TLS when asked (RFC 8314)",
  ignore,
  async fn() {
    const pki = await testPki();
    await using server = await tlsServer({ secure: true });
    const session = await mustConnect(
      server.port,
      testOptions({
        peerName: "mx.test",
        implicitTls: true,
        tlsPolicy: "verified",
        caCerts: [pki.caPem],
      }),
    );
    assert.equal(session.tls, true);
    assert.equal(only(await session.send(envelope)).kind, "delivered");
    await session.quit();
    assert.equal(server.messages[0]!.secure, true);
  },
});

/**
 * A TCP stream as `Deno.startTls` leaves it: once handed to the upgrade it is consumed, and
 * closing it throws `BadResource` (the TLS connection owns the socket now).
 */
class ConsumableConn {
  #consumed = false;
  constructor(readonly conn: Deno.Conn) {}
  consume(): Deno.Conn {
    this.#consumed = true;
    return this.conn;
  }
  read(p: Uint8Array): Promise<number | null> {
    return this.#consumed ? Promise.reject(this.#gone()) : this.conn.read(p);
  }
  write(p: Uint8Array): Promise<number> {
    return this.#consumed ? Promise.reject(this.#gone()) : this.conn.write(p);
  }
  close(): void {
    if (this.#consumed) throw this.#gone();
    this.conn.close();
  }
  #gone() {
    return new Deno.errors.BadResource("Bad resource ID");
  }
}

/** Options whose upgrade takes the plain stream over, as Deno.startTls does. */
function consumingOptions(
  cut: AbortSignal,
  upgraded: (conn: Deno.Conn, signal: AbortSignal | undefined) => Promise<ByteStream>,
) {
  return testOptions({
    signal: cut,
    connect: async (hostname, port) =>
      new ConsumableConn(await Deno.connect({ hostname, port, transport: "tcp" })),
    startTls: (stream, { signal }) => upgraded((stream as ConsumableConn).consume(), signal),
  });
}

Deno.test("connectSmtp() cut after STARTTLS closes the TLS stream and fails the opening at once", async () => {
  let ehloAgain!: () => void;
  const waiting = new Promise<void>((resolve) => (ehloAgain = resolve));
  await using peer = startScriptedPeer(esmtp({
    ehlo: TLS_EHLO,
    async starttls(link) {
      await link.reply("220 Go ahead");
      await link.readLine(); // the EHLO after TLS, never answered
      ehloAgain();
      await link.readLine(); // null once the client hangs up
    },
  }));
  const cut = new AbortController();
  let tlsClosed = false;
  // The "TLS" stream passes bytes through: the peer above speaks plain text after its 220.
  const options = consumingOptions(cut.signal, (conn) =>
    Promise.resolve({
      read: (p) => conn.read(p),
      write: (p) => conn.write(p),
      close() {
        tlsClosed = true;
        conn.close();
      },
    }));
  const opening = connectSmtp("127.0.0.1", peer.port, options);
  await waiting;
  cut.abort();
  // No time passes: the cut itself ends the read, not the EHLO timeout.
  const opened = await opening;
  assert.equal(opened.kind, "failed");
  assert.equal(
    opened.kind === "failed" && opened.tls,
    undefined,
    "our own stop, not a TLS failure",
  );
  assert.ok(tlsClosed, "the TLS stream, which owns the socket now, is closed");
});

Deno.test("connectSmtp() cut during the TLS handshake aborts it, and it is not a TLS failure", async () => {
  let handshaking!: () => void;
  const started = new Promise<void>((resolve) => (handshaking = resolve));
  await using peer = startScriptedPeer(esmtp({ ehlo: TLS_EHLO, starttls: "220 Go ahead" }));
  const cut = new AbortController();
  const options = consumingOptions(cut.signal, (conn, signal) =>
    new Promise((_resolve, reject) => {
      handshaking();
      signal?.addEventListener("abort", () => {
        conn.close();
        reject(signal.reason);
      });
    }));
  const opening = connectSmtp("127.0.0.1", peer.port, options);
  await started;
  cut.abort();
  const opened = await opening;
  assert.equal(failureOf(opened).kind, "transient");
  assert.equal(
    opened.kind === "failed" && opened.tls,
    undefined,
    "our own stop, not a TLS failure",
  );
});
