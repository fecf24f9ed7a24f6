/**
 * Egress source addresses: a real receiver (smtp-server on 127.0.0.1) sees each connection come
 * from the source address picked, in turn, with that address's EHLO name; a destination's own
 * pool replaces the global one; an address that is not this host's fails the connection,
 * naming it. The config rejects a bad address at its key.
 */
import assert from "node:assert/strict";
import type { Delivery } from "../../../actors/ports.ts";
import { buildRouteTable, createRouter } from "../../../relay/dns/mod.ts";
import { MessageSource } from "../../../relay/adapters/message_source.ts";
import { SmtpDeliverer } from "../../../relay/adapters/smtp_deliverer.ts";
import { type SourceAddress, SourceAddresses } from "../../../relay/adapters/source_addresses.ts";
import { ConfigError, parseFileConfig } from "../../../relay/config/config.ts";
import { rollupKey } from "../../../relay/composition/relay.ts";
import type { MessageRow } from "../../../db/messages.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { FakeResolver } from "../../_fakes/fake_resolver.ts";
import { startSmtpServer, type TestSmtpServer } from "../smtp/_smtp_server.ts";

const NOW = Date.UTC(2030, 0, 1, 9);
const row: MessageRow = {
  id: 1,
  fromAddress: "a@shop.example",
  to: ["ada@x.test"],
  cc: [],
  bcc: [],
  replyTo: null,
  subject: "s",
  text: "body",
  html: null,
  headers: null,
  raw: null,
  createdAt: new Date(NOW),
  metadata: null,
};

function delivery(domain: string): Delivery {
  return {
    id: 1,
    outboxId: 1,
    recipient: `ada@${domain}`,
    domain,
    priority: 1,
    attempts: 0,
    expiresAt: NOW + 86_400_000,
    smtputf8: false,
    leaseToken: 1,
    leaseExpiresAt: NOW + 86_400_000,
  };
}

interface Seen {
  readonly from: string;
  readonly ehlo: string;
}

/** smtp-server recording, per transaction, the address a connection came from and its EHLO. */
async function receiver(): Promise<{ server: TestSmtpServer; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = await startSmtpServer({
    onMailFrom(_address, session, callback) {
      seen.push({ from: session.remoteAddress, ehlo: session.hostNameAppearsAs });
      callback();
    },
  });
  return { server, seen };
}

function deliverer(port: number, sources: SourceAddresses): SmtpDeliverer {
  const clock = new FakeClock(NOW);
  const routes = buildRouteTable([{ pattern: "*", host: "127.0.0.1", port }]);
  if (!routes.ok) throw new Error(routes.reason);
  return new SmtpDeliverer({
    clock,
    router: createRouter({ resolver: new FakeResolver(), random: () => 0.5, routes: routes.table }),
    messages: new MessageSource({
      load: () => Promise.resolve(row),
      clock,
      messageIdDomain: "relay.test",
    }),
    heloName: "relay.test",
    tlsPolicy: () => "opportunistic",
    sourceAddresses: sources,
  });
}

/** One connection to `domain`, one message, QUIT; the first recipient's result kind. */
async function sendOnce(d: SmtpDeliverer, domain: string): Promise<string> {
  const signal = new AbortController().signal;
  const c = await d.connect(domain, signal);
  if (c.kind !== "connected") return `failed: ${c.result.reply}`;
  try {
    const [result] = await c.session.send(1, [delivery(domain)], signal);
    return result!.kind;
  } finally {
    await c.session.close();
  }
}

const POOL: SourceAddress[] = [
  { address: "127.0.0.2", ehlo: "out1.example.com" },
  { address: "127.0.0.3", ehlo: "out2.example.com" },
];

Deno.test("connections leave from the pool's addresses in turn, each with its EHLO name", async () => {
  const { server, seen } = await receiver();
  await using _ = server;
  const d = deliverer(
    server.port,
    new SourceAddresses({ global: POOL, defaultHelo: "relay.test" }),
  );
  for (let i = 0; i < 4; i++) assert.equal(await sendOnce(d, "x.test"), "delivered");
  assert.deepEqual(seen, [
    { from: "127.0.0.2", ehlo: "out1.example.com" },
    { from: "127.0.0.3", ehlo: "out2.example.com" },
    { from: "127.0.0.2", ehlo: "out1.example.com" },
    { from: "127.0.0.3", ehlo: "out2.example.com" },
  ]);
  assert.equal(server.messages.length, 4);
});

Deno.test("an address without its own EHLO name sends the relay's; a domain's pool replaces the global one", async () => {
  const { server, seen } = await receiver();
  await using _ = server;
  const d = deliverer(
    server.port,
    new SourceAddresses({
      global: [{ address: "127.0.0.2" }],
      byDomain: {
        "y.test": [{ address: "127.0.0.4", ehlo: "y-out.example.com" }],
        "*.z.test": [{ address: "127.0.0.5", ehlo: "z-out.example.com" }],
      },
      defaultHelo: "relay.test",
    }),
  );
  assert.equal(await sendOnce(d, "x.test"), "delivered");
  assert.equal(await sendOnce(d, "y.test"), "delivered");
  assert.equal(await sendOnce(d, "mail.z.test"), "delivered");
  assert.deepEqual(seen, [
    { from: "127.0.0.2", ehlo: "relay.test" },
    { from: "127.0.0.4", ehlo: "y-out.example.com" },
    { from: "127.0.0.5", ehlo: "z-out.example.com" },
  ]);
});

Deno.test("a source address that is not this host's fails the connection, naming the address", async () => {
  const { server, seen } = await receiver();
  await using _ = server;
  const d = deliverer(
    server.port,
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this host.
    new SourceAddresses({ global: [{ address: "192.0.2.7" }], defaultHelo: "relay.test" }),
  );
  const result = await sendOnce(d, "x.test");
  assert.match(result, /^failed: 451 4\.4\.1 .*from 192\.0\.2\.7/);
  assert.deepEqual(seen, []);
});

Deno.test("only addresses of the peer's family are picked; none of it: the system's choice", () => {
  const sources = new SourceAddresses({
    global: [{ address: "127.0.0.2" }, { address: "::1", ehlo: "v6.example.com" }],
    defaultHelo: "relay.test",
  });
  assert.deepEqual(sources.pick("x.test", "2001:db8::25"), {
    address: "::1",
    heloName: "v6.example.com",
  });
  assert.equal(sources.pick("x.test", "192.0.2.25")?.address, "127.0.0.2");
  const v4only = new SourceAddresses({ global: [{ address: "127.0.0.2" }], defaultHelo: "r" });
  assert.equal(v4only.pick("x.test", "2001:db8::25"), undefined);
  assert.equal(new SourceAddresses({ global: [], defaultHelo: "r" }).configured, false);
});

Deno.test("config: source addresses are validated at their key, and kept out of the actors' policies", () => {
  const config = parseFileConfig(JSON.stringify({
    delivery: { sourceAddresses: [{ address: "2001:db8::1", ehlo: "out6.example.com" }] },
    domains: { "y.test": { sourceAddresses: [{ address: "127.0.0.4" }], maxConnections: 3 } },
  }));
  assert.deepEqual(config.delivery.sourceAddresses, [
    { address: "2001:db8::1", ehlo: "out6.example.com" },
  ]);
  assert.deepEqual(config.domainSourceAddresses, { "y.test": [{ address: "127.0.0.4" }] });
  assert.deepEqual(config.domains, { "y.test": { maxConnections: 3 } });
  assert.deepEqual(parseFileConfig("{}").delivery.sourceAddresses, []);
  const refused = (json: unknown, key: RegExp) =>
    assert.throws(
      () => parseFileConfig(JSON.stringify(json)),
      (err: unknown) => err instanceof ConfigError && key.test(err.message),
    );
  refused(
    { delivery: { sourceAddresses: [{ address: "out1.example.com" }] } },
    /delivery\.sourceAddresses\.0\.address/,
  );
  refused(
    { delivery: { sourceAddresses: [{ address: "127.0.0.2", ehlo: "not a name" }] } },
    /delivery\.sourceAddresses\.0\.ehlo/,
  );
  refused(
    { domains: { "y.test": { sourceAddresses: [] } } },
    /domains\.y\.test\.sourceAddresses/,
  );
  refused(
    { delivery: { sourceAddresses: [{ address: "127.0.0.2", port: 25 }] } },
    /delivery\.sourceAddresses\.0/,
  );
});

Deno.test("a domain with a pool of its own stays out of the MX rollup; `*` does not count", async () => {
  const resolver = new FakeResolver()
    .set("a.test", { mx: [{ preference: 10, exchange: "mx.host.test" }] })
    .set("b.test", { mx: [{ preference: 10, exchange: "mx.host.test" }] })
    .set("mx.host.test", { a: ["192.0.2.1"] });
  const sources = new SourceAddresses({
    global: [],
    byDomain: { "b.test": [{ address: "127.0.0.4" }], "*": [{ address: "127.0.0.2" }] },
    defaultHelo: "relay.test",
  });
  const key = rollupKey(
    createRouter({ resolver, random: () => 0.5 }),
    {},
    undefined,
    false,
    (d) => sources.ownPool(d),
  );
  assert.equal(await key("a.test"), "mx:mx.host.test");
  assert.equal(await key("b.test"), "b.test");
});
