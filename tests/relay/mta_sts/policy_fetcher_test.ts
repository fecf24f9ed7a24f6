/**
 * The policy fetcher against real HTTPS servers on 127.0.0.1, with certificates from a test
 * CA: the fetcher connects to the loopback address and verifies the certificate for
 * `mta-sts.example.test`. Deadlines run on a fake clock; nothing sleeps for real.
 */
import assert from "node:assert/strict";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { httpsPolicyFetcher, type Parsed } from "../../../relay/mta_sts/mod.ts";
import { hasOpenssl, type Leaf, policyPki } from "./_pki.ts";
import { requirePeer } from "../../_support/peers.ts";

const POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmax_age: 86400\r\n";
const ignore = requirePeer("openssl", !hasOpenssl);

interface Served {
  readonly port: number;
  /** Paths requested, with their Host header. */
  readonly seen: string[];
  close(): Promise<void>;
}

function serve(leaf: Leaf, handler: (req: Request) => Response | Promise<Response>): Served {
  const seen: string[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: leaf.certPem,
    key: leaf.keyPem,
    onListen: () => {},
  }, (req) => {
    seen.push(`${req.headers.get("host")} ${new URL(req.url).pathname}`);
    return handler(req);
  });
  return { port: server.addr.port, seen, close: () => server.shutdown() };
}

async function fetchFrom(
  served: { readonly port: number },
  o: { clock?: FakeClock; trust?: boolean; domain?: string } = {},
): Promise<Parsed<string>> {
  const pki = await policyPki();
  const fetchPolicy = httpsPolicyFetcher({
    clock: o.clock ?? new FakeClock(),
    caCerts: o.trust === false ? undefined : [pki.caPem],
    connectTo: { hostname: "127.0.0.1", port: served.port },
  });
  return await fetchPolicy(o.domain ?? "example.test");
}

function failure(result: Parsed<string>): string {
  assert.equal(result.ok, false, "the fetch should have failed");
  return result.ok ? "" : result.reason;
}

Deno.test({
  name: "the fetcher GETs /.well-known/mta-sts.txt from mta-sts.<domain> over verified TLS",
  ignore,
  async fn() {
    const pki = await policyPki();
    const served = serve(pki.valid, () => new Response(POLICY));
    try {
      assert.deepEqual(await fetchFrom(served, { domain: "Example.TEST." }), {
        ok: true,
        value: POLICY,
      });
      assert.deepEqual(served.seen, ["mta-sts.example.test /.well-known/mta-sts.txt"]);
    } finally {
      await served.close();
    }
  },
});

Deno.test({
  name: "the fetcher takes text/plain with parameters and a streamed (chunked) body",
  ignore,
  async fn() {
    const pki = await policyPki();
    const served = serve(
      pki.valid,
      () =>
        new Response(
          ReadableStream.from([POLICY.slice(0, 20), POLICY.slice(20)]).pipeThrough(
            new TextEncoderStream(),
          ),
          { headers: { "content-type": "Text/Plain; charset=utf-8" } },
        ),
    );
    try {
      assert.deepEqual(await fetchFrom(served), { ok: true, value: POLICY });
    } finally {
      await served.close();
    }
  },
});

Deno.test({
  name: "the fetcher refuses a redirect instead of following it",
  ignore,
  async fn() {
    const pki = await policyPki();
    const served = serve(
      pki.valid,
      (req) =>
        new URL(req.url).pathname === "/elsewhere"
          ? new Response(POLICY)
          : Response.redirect("https://mta-sts.example.test/elsewhere", 301),
    );
    try {
      assert.match(
        failure(await fetchFrom(served)),
        /redirect 301 to https:\/\/mta-sts\.example\.test\/elsewhere refused/,
      );
      assert.equal(served.seen.length, 1);
    } finally {
      await served.close();
    }
  },
});

Deno.test({
  name: "the fetcher refuses any status but 200",
  ignore,
  async fn() {
    const pki = await policyPki();
    const served = serve(pki.valid, () => new Response("gone", { status: 404 }));
    try {
      assert.match(failure(await fetchFrom(served)), /HTTP status 404/);
    } finally {
      await served.close();
    }
  },
});

Deno.test({
  name: "the fetcher refuses a body over 64 KiB, announced or streamed",
  ignore,
  async fn() {
    const pki = await policyPki();
    const big = POLICY + `# ${"x".repeat(64 * 1024)}\n`;
    const announced = serve(pki.valid, () => new Response(big));
    const streamed = serve(pki.valid, () =>
      new Response(
        ReadableStream.from([big.slice(0, 40_000), big.slice(40_000)]).pipeThrough(
          new TextEncoderStream(),
        ),
        { headers: { "content-type": "text/plain" } },
      ));
    try {
      assert.match(failure(await fetchFrom(announced)), /body of 6\d{4} octets is over 65536/);
      assert.match(failure(await fetchFrom(streamed)), /body is over 65536 octets/);
    } finally {
      await announced.close();
      await streamed.close();
    }
  },
});

Deno.test({
  name: "the fetcher refuses a Content-Type other than text/plain, or none",
  ignore,
  async fn() {
    const pki = await policyPki();
    const html = serve(
      pki.valid,
      () => new Response(POLICY, { headers: { "content-type": "text/html; charset=utf-8" } }),
    );
    const none = serve(
      pki.valid,
      () => new Response(new TextEncoder().encode(POLICY), { headers: {} }),
    );
    try {
      assert.match(failure(await fetchFrom(html)), /Content-Type "text\/html; charset=utf-8"/);
      assert.match(failure(await fetchFrom(none)), /Content-Type "" is not text\/plain/);
    } finally {
      await html.close();
      await none.close();
    }
  },
});

Deno.test({
  name: "the fetcher refuses a certificate for another name, an expired one, an unknown CA",
  ignore,
  async fn() {
    const pki = await policyPki();
    const other = serve(pki.otherName, () => new Response(POLICY));
    const expired = serve(pki.expired, () => new Response(POLICY));
    const valid = serve(pki.valid, () => new Response(POLICY));
    try {
      assert.match(
        failure(await fetchFrom(other)),
        /TLS with mta-sts\.example\.test: .*not valid for name/i,
      );
      assert.match(
        failure(await fetchFrom(expired)),
        /TLS with mta-sts\.example\.test: .*certificate expired/,
      );
      assert.match(failure(await fetchFrom(valid, { trust: false })), /UnknownIssuer/i);
      // None of them got as far as a request.
      assert.deepEqual([...other.seen, ...expired.seen, ...valid.seen], []);
    } finally {
      await other.close();
      await expired.close();
      await valid.close();
    }
  },
});

Deno.test({
  name: "the fetcher gives up on a slow server at its deadline on the injected clock",
  ignore,
  async fn() {
    const pki = await policyPki();
    const clock = new FakeClock();
    const { promise: arrived, resolve: arrive } = Promise.withResolvers<void>();
    const { promise: released, resolve: release } = Promise.withResolvers<void>();
    const served = serve(pki.valid, async () => {
      arrive();
      await released;
      return new Response(POLICY);
    });
    try {
      const pending = fetchFrom(served, { clock });
      await arrived;
      await clock.advance(9_999);
      await clock.advance(1);
      assert.match(failure(await pending), /Timed out after 10000 ms waiting for the policy/);
    } finally {
      release();
      await served.close();
    }
  },
});

Deno.test({
  name: "the fetcher's deadline also covers a server that never finishes the TLS handshake",
  ignore,
  async fn() {
    const clock = new FakeClock();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    try {
      const pending = fetchFrom({ port: listener.addr.port }, { clock });
      const conn = await accepted;
      await clock.untilSleeping();
      await clock.advance(10_000);
      assert.match(failure(await pending), /Timed out after 10000 ms/);
      conn.close();
    } finally {
      listener.close();
    }
  },
});

Deno.test({
  name: "the fetcher refuses a name that cannot be a host without connecting",
  async fn() {
    const fetchPolicy = httpsPolicyFetcher({ clock: new FakeClock() });
    assert.match(failure(await fetchPolicy("[192.0.2.1]")), /is not a host name/);
  },
});
