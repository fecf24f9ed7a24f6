import assert from "node:assert/strict";
import { startTls, TlsHandshakeError } from "../../../relay/tls/mod.ts";
import { hasOpenssl, testPki } from "./_test_certs.ts";
import { requirePeer } from "../../_support/peers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A TLS echo server (Deno.listenTls) on a free loopback port that answers one line. */
async function withTlsServer(fn: (port: number) => Promise<void>): Promise<void> {
  const pki = await testPki();
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: pki.certPem,
    key: pki.keyPem,
  });
  const serving = (async () => {
    for (;;) {
      let conn: Deno.TlsConn;
      try {
        conn = await listener.accept();
      } catch {
        return;
      }
      try {
        const buf = new Uint8Array(100);
        const n = await conn.read(buf);
        if (n) await conn.write(encoder.encode(`echo ${decoder.decode(buf.subarray(0, n))}`));
      } catch {
        // A client that failed verification hangs up mid-handshake.
      } finally {
        conn.close();
      }
    }
  })();
  try {
    await fn((listener.addr as Deno.NetAddr).port);
  } finally {
    listener.close();
    await serving;
  }
}

async function roundTrip(port: number, options: Parameters<typeof startTls>[1]): Promise<string> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  const tls = await startTls(tcp, options);
  try {
    await tls.write(encoder.encode("hi"));
    const buf = new Uint8Array(100);
    const n = await tls.read(buf);
    return decoder.decode(buf.subarray(0, n ?? 0));
  } finally {
    tls.close();
  }
}

Deno.test({
  name: "startTls() accepts any certificate unverified and checks chain and name when verifying",
  ignore: requirePeer("openssl", !hasOpenssl),
  async fn() {
    const pki = await testPki();
    await withTlsServer(async (port) => {
      assert.equal(await roundTrip(port, { hostname: "anything.test", verify: false }), "echo hi");
      assert.equal(
        await roundTrip(port, { hostname: "mx.test", verify: true, caCerts: [pki.caPem] }),
        "echo hi",
      );
      await assert.rejects(
        roundTrip(port, { hostname: "other.test", verify: true, caCerts: [pki.caPem] }),
        TlsHandshakeError,
      );
      await assert.rejects(
        roundTrip(port, { hostname: "mx.test", verify: true }),
        TlsHandshakeError,
      );
    });
  },
});
