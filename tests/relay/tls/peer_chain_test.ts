/** startTlsWithPeerChain(): the unverified upgrade that shows the peer's chain (for DANE). */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import {
  startTls,
  startTlsWithPeerChain,
  TlsHandshakeError,
  type TlsStream,
} from "../../../relay/tls/mod.ts";
import { hasOpenssl, testPki } from "./_test_certs.ts";
import { requirePeer } from "../../_support/peers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A TLS server presenting `certChain` (PEM, leaf first) that echoes one read back. */
async function withTlsServer(certChain: string, fn: (port: number) => Promise<void>) {
  const pki = await testPki();
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: certChain,
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
        // The client went away.
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

async function echo(tls: TlsStream): Promise<string> {
  await tls.write(encoder.encode("hi"));
  const buf = new Uint8Array(100);
  const n = await tls.read(buf);
  return decoder.decode(buf.subarray(0, n ?? 0));
}

const der = (pem: string) => new Uint8Array(new X509Certificate(pem).raw);

Deno.test({
  name: "startTlsWithPeerChain() hands over the presented chain, leaf first, and the version",
  ignore: requirePeer("openssl", !hasOpenssl),
  async fn() {
    const pki = await testPki();
    await withTlsServer(pki.certPem + pki.caPem, async (port) => {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
      // A name the certificate does not carry: nothing is verified here, by design.
      const tls = await startTlsWithPeerChain(tcp, { hostname: "unrelated.test" });
      try {
        assert.deepEqual(tls.peerCertificates(), [der(pki.certPem), der(pki.caPem)]);
        assert.match(tls.tlsVersion(), /^TLSv1\.[23]$/);
        assert.equal(await echo(tls), "echo hi");
      } finally {
        tls.close();
      }
    });
  },
});

Deno.test({
  name: "startTlsWithPeerChain() shows a lone leaf as a chain of one; copies, not the original",
  ignore: requirePeer("openssl", !hasOpenssl),
  async fn() {
    const pki = await testPki();
    await withTlsServer(pki.certPem, async (port) => {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
      const tls = await startTlsWithPeerChain(tcp, { hostname: "mx.test" });
      try {
        const chain = tls.peerCertificates();
        assert.deepEqual(chain, [der(pki.certPem)]);
        chain[0]!.fill(0);
        assert.deepEqual(tls.peerCertificates(), [der(pki.certPem)]);
      } finally {
        tls.close();
      }
    });
  },
});

Deno.test({
  name: "startTls() unverified gives the same TlsStream view",
  ignore: requirePeer("openssl", !hasOpenssl),
  async fn() {
    const pki = await testPki();
    await withTlsServer(pki.certPem + pki.caPem, async (port) => {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
      const tls = await startTls(tcp, { hostname: "mx.test", verify: false }) as TlsStream;
      try {
        assert.equal(tls.peerCertificates().length, 2);
        assert.equal(await echo(tls), "echo hi");
      } finally {
        tls.close();
      }
    });
  },
});

Deno.test("startTlsWithPeerChain() rejects with TlsHandshakeError when the peer speaks no TLS", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    await conn.write(encoder.encode("220 not TLS at all\r\n")).catch(() => 0);
    conn.close();
  })();
  try {
    const tcp = await Deno.connect({
      hostname: "127.0.0.1",
      port: (listener.addr as Deno.NetAddr).port,
    });
    await assert.rejects(
      startTlsWithPeerChain(tcp, { hostname: "mx.test" }),
      (err: unknown) => err instanceof TlsHandshakeError && err.verified === false,
    );
  } finally {
    await serving;
    listener.close();
  }
});
