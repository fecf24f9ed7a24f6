/**
 * daneStartTls() against a local TLS server (node:tls, so the test sees the SNI and what the
 * client sent): the chain is authenticated with DANE before any application byte goes out.
 */
import assert from "node:assert/strict";
import { createServer, type TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import {
  DaneMismatchError,
  daneStartTls,
  type DaneStartTlsOptions,
  type DaneVerification,
} from "../../../relay/dane/mod.ts";
import { TlsHandshakeError, type TlsStream } from "../../../relay/tls/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { type Cert, danePki, hasOpenssl } from "./_pki.ts";
import { tlsaFor } from "./_records.ts";
import { requirePeer } from "../../_support/peers.ts";

const ignore = requirePeer("openssl", !hasOpenssl);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Seen {
  servername: string | false;
  received: string;
}

/** A TLS server presenting `chain` (leaf first) with `leaf`'s key, echoing what it receives. */
async function withServer(
  leaf: Cert,
  chain: readonly Cert[],
  fn: (port: number, seen: Seen[]) => Promise<void>,
): Promise<void> {
  const seen: Seen[] = [];
  const closed: Promise<void>[] = [];
  const server = createServer({ key: leaf.keyPem, cert: chain.map((c) => c.pem).join("") });
  server.on("secureConnection", (socket: TLSSocket) => {
    // Node sets `servername` on server-side sockets; its type declarations leave it out.
    const { servername } = socket as TLSSocket & { servername: string | false };
    const entry: Seen = { servername, received: "" };
    seen.push(entry);
    closed.push(new Promise((resolve) => socket.on("close", () => resolve())));
    socket.on("data", (chunk: Uint8Array) => {
      entry.received += decoder.decode(chunk);
      socket.write(`echo ${decoder.decode(chunk)}`);
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await fn((server.address() as AddressInfo).port, seen);
  } finally {
    await Promise.all(closed);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function upgrade(port: number, options: DaneStartTlsOptions): Promise<TlsStream> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  const start = daneStartTls(options);
  return await start(tcp, { hostname: "mx.example.test", verify: true }) as TlsStream;
}

async function echo(tls: TlsStream): Promise<string> {
  await tls.write(encoder.encode("EHLO"));
  const buf = new Uint8Array(100);
  const n = await tls.read(buf);
  return decoder.decode(buf.subarray(0, n ?? 0));
}

// The certificates were made just now; the clock only has to read the present.
const clock = () => new FakeClock(Date.now());

Deno.test({
  name: "daneStartTls() authenticates a DANE-EE server and hands over the stream",
  ignore,
  async fn() {
    const { leaf, intermediate } = await danePki();
    await withServer(leaf, [leaf, intermediate], async (port, seen) => {
      const matches: DaneVerification[] = [];
      const versions: string[] = [];
      const record = tlsaFor(3, 1, 1, leaf.der);
      const tls = await upgrade(port, {
        records: [record],
        referenceNames: ["mx.example.test"],
        clock: clock(),
        onAuthenticated: (match, stream) => {
          matches.push(match);
          versions.push(stream.tlsVersion());
        },
      });
      try {
        assert.equal(await echo(tls), "echo EHLO");
      } finally {
        tls.close();
      }
      assert.deepEqual(matches, [{ ok: true, usage: "DANE-EE", record }]);
      assert.match(versions[0]!, /^TLSv1\.[23]$/);
      assert.equal(seen[0]?.servername, "mx.example.test");
    });
  },
});

Deno.test({
  name: "daneStartTls() authenticates DANE-TA with names, and sends the TLSA base domain as SNI",
  ignore,
  async fn() {
    const { leaf, intermediate } = await danePki();
    await withServer(leaf, [leaf, intermediate], async (port, seen) => {
      const tls = await upgrade(port, {
        records: [tlsaFor(2, 1, 1, intermediate.der)],
        referenceNames: ["base.hosting.test", "mx.example.test"],
        serverName: "base.hosting.test",
        clock: clock(),
      });
      try {
        assert.equal(await echo(tls), "echo EHLO");
      } finally {
        tls.close();
      }
      assert.equal(seen[0]?.servername, "base.hosting.test");
    });
  },
});

Deno.test({
  name: "daneStartTls() hangs up on a server that does not match, before sending a byte",
  ignore,
  async fn() {
    const { leaf, intermediate, otherName } = await danePki();
    let seen: Seen[] = [];
    await withServer(leaf, [leaf, intermediate], async (port, served) => {
      seen = served;
      const error = await upgrade(port, {
        records: [tlsaFor(3, 1, 1, otherName.der), tlsaFor(2, 1, 1, otherName.der)],
        referenceNames: ["mx.example.test"],
        clock: clock(),
      }).then(() => undefined, (err: unknown) => err);
      assert.ok(error instanceof TlsHandshakeError, String(error));
      assert.equal(error.verified, true);
      const cause = error.cause;
      assert.ok(cause instanceof DaneMismatchError);
      assert.equal(cause.reasons.length, 2);
      assert.match(error.message, /DANE authentication failed: 3 1 1 .*; 2 1 1 /);
    });
    // Read once the server saw its connections close. (Under TLS 1.3 the client may hang up
    // before the server finished its side of the handshake, so there may be no entry at all.)
    assert.deepEqual(seen.filter((s) => s.received !== ""), []);
  },
});

Deno.test({
  name: "daneStartTls() refuses an expired leaf under DANE-TA and accepts it under DANE-EE",
  ignore,
  async fn() {
    const { expired, intermediate } = await danePki();
    await withServer(expired, [expired, intermediate], async (port) => {
      const names = ["mx.example.test"];
      await assert.rejects(
        upgrade(port, {
          records: [tlsaFor(2, 0, 1, intermediate.der)],
          referenceNames: names,
          clock: clock(),
        }),
        /expired at 2020-01-02/,
      );
      const tls = await upgrade(port, {
        records: [tlsaFor(3, 0, 1, expired.der)],
        referenceNames: names,
        clock: clock(),
      });
      tls.close();
    });
  },
});
