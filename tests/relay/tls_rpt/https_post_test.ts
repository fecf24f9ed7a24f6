/**
 * Reports POSTed to an `https:` rua (RFC 8460 §5.4) of a real HTTPS server on 127.0.0.1 with a
 * certificate from a test CA. Deadlines run on a fake clock; nothing sleeps for real.
 */
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { httpsReportPoster } from "../../../relay/tls_rpt/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { requirePeer } from "../../_support/peers.ts";
import { hasOpenssl, testPki } from "../tls/_test_certs.ts";

const ignore = requirePeer("openssl", !hasOpenssl);
const REPORT = new TextEncoder().encode('{"report-id":"x"}');

interface Received {
  readonly method: string;
  readonly path: string;
  readonly type: string | null;
  readonly body: Uint8Array;
}

async function serve(answer: (req: Request) => Response | Promise<Response>) {
  const pki = await testPki();
  const received: Received[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: pki.certPem,
    key: pki.keyPem,
    onListen: () => {},
  }, async (req) => {
    received.push({
      method: req.method,
      path: new URL(req.url).pathname,
      type: req.headers.get("content-type"),
      body: new Uint8Array(await req.arrayBuffer()),
    });
    return await answer(req);
  });
  return {
    url: `https://localhost:${server.addr.port}/v1/tlsrpt`,
    caPem: pki.caPem,
    received,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

const gzip = (await import("node:zlib")).gzipSync(REPORT);

Deno.test({
  name: "the report is POSTed gzip'd as application/tlsrpt+gzip over verified TLS",
  ignore,
  async fn() {
    await using server = await serve(() => new Response(null, { status: 201 }));
    const post = httpsReportPoster({ clock: new FakeClock(), caCerts: [server.caPem] });
    assert.deepEqual(await post(server.url, gzip), { ok: true });
    assert.equal(server.received.length, 1);
    const got = server.received[0]!;
    assert.equal(got.method, "POST");
    assert.equal(got.path, "/v1/tlsrpt");
    assert.equal(got.type, "application/tlsrpt+gzip");
    assert.deepEqual(new Uint8Array(gunzipSync(got.body)), REPORT);
  },
});

Deno.test({
  name: "a certificate the poster does not trust fails the POST, nothing is sent",
  ignore,
  async fn() {
    await using server = await serve(() => new Response("ok"));
    const post = httpsReportPoster({ clock: new FakeClock() });
    const r = await post(server.url, gzip);
    assert.equal(r.ok, false);
    assert.match(r.ok ? "" : r.reason, /certificate|UnknownIssuer|invalid peer/i);
    assert.equal(server.received.length, 0);
  },
});

Deno.test({
  name: "an answer but 2xx is a failure, a redirect included (not followed)",
  ignore,
  async fn() {
    let status = 500;
    await using server = await serve(() =>
      new Response("no", { status, headers: status === 302 ? { location: "/elsewhere" } : {} })
    );
    const post = httpsReportPoster({ clock: new FakeClock(), caCerts: [server.caPem] });
    const failed = await post(server.url, gzip);
    assert.equal(failed.ok, false);
    assert.match(failed.ok ? "" : failed.reason, /HTTP 500/);
    status = 302;
    const moved = await post(server.url, gzip);
    assert.match(moved.ok ? "" : moved.reason, /HTTP 302/);
    assert.deepEqual(server.received.map((r) => r.path), ["/v1/tlsrpt", "/v1/tlsrpt"]);
  },
});

Deno.test({
  name: "a POST that gets no answer fails at the deadline, on the injected clock",
  ignore,
  async fn() {
    const never = Promise.withResolvers<Response>();
    await using server = await serve(() => never.promise);
    const clock = new FakeClock();
    const post = httpsReportPoster({ clock, caCerts: [server.caPem], timeoutMs: 30_000 });
    const pending = post(server.url, gzip);
    await clock.untilSleeping();
    await clock.advance(30_000);
    const r = await pending;
    assert.equal(r.ok, false);
    assert.match(r.ok ? "" : r.reason, /Timed out after 30000 ms/);
    never.resolve(new Response(null, { status: 204 }));
  },
});

Deno.test("a rua that is not https: is refused without a connection", async () => {
  const post = httpsReportPoster({
    clock: new FakeClock(),
    fetch: () => Promise.reject(new Error("must not be called")),
  });
  const r = await post("http://reports.example.com/", gzip);
  assert.deepEqual(r, { ok: false, reason: "http://reports.example.com/ is not an https: URL" });
});
