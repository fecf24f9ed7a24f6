import assert from "node:assert/strict";
import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { DnsServer } from "../../_fakes/dns_server.ts";
import { WireResolver } from "../../../relay/dns/wire_resolver.ts";
import { requirePeer } from "../../_support/peers.ts";

const ZONE = {
  "example.test": { mx: [{ preference: 10, exchange: "mx1.example.test" }] },
  "mx1.example.test": { a: ["192.0.2.1"], aaaa: ["2001:db8::1"] },
  "alias.test": { cname: "mx1.example.test" },
};

Deno.test("WireResolver.resolve() reports the TTLs the server gave, negative ones from the SOA", async () => {
  await using server = await DnsServer.start({ zone: ZONE, ttl: 120 });
  const resolver = new WireResolver({ clock: new FakeClock(), nameServers: [server.nameServer] });
  const mx = await resolver.resolve("example.test", "MX");
  assert.deepEqual(mx, {
    kind: "records",
    records: [{ preference: 10, exchange: "mx1.example.test" }],
    ttl: 120,
  });
  assert.deepEqual(await resolver.resolve("missing.test", "A"), { kind: "nxdomain", ttl: 120 });
  assert.deepEqual(await resolver.resolve("example.test", "AAAA"), { kind: "nodata", ttl: 120 });
});

Deno.test("WireResolver.resolve() answers TXT records, each with its strings joined", async () => {
  const long = `v=spf1 ${"include:a-long-name.example.test ".repeat(10)}-all`;
  await using server = await DnsServer.start({
    zone: {
      "_mta-sts.example.test": { txt: [["v=STSv1; ", "id=20260101;"], "other text"] },
      "spf.example.test": { txt: [long] },
      "nothing.example.test": { a: ["192.0.2.1"] },
    },
    ttl: 90,
  });
  const resolver = new WireResolver({ clock: new FakeClock(), nameServers: [server.nameServer] });
  const sts = await resolver.resolve("_mta-sts.example.test", "TXT");
  assert.deepEqual(sts, {
    kind: "records",
    records: ["v=STSv1; id=20260101;", "other text"],
    ttl: 90,
  });
  // Over 255 octets: the server cuts it into two character-strings.
  assert.ok(long.length > 255);
  assert.deepEqual(await resolver.resolve("spf.example.test", "TXT"), {
    kind: "records",
    records: [long],
    ttl: 90,
  });
  assert.deepEqual(await resolver.resolve("nothing.example.test", "TXT"), {
    kind: "nodata",
    ttl: 90,
  });
  assert.deepEqual(server.queries.map((q) => q.type), ["TXT", "TXT", "TXT"]);
});

Deno.test("WireResolver.resolve() follows a CNAME to the records of its target", async () => {
  await using server = await DnsServer.start({ zone: ZONE, ttl: 60 });
  const resolver = new WireResolver({ clock: new FakeClock(), nameServers: [server.nameServer] });
  assert.deepEqual(await resolver.resolve("alias.test", "AAAA"), {
    kind: "records",
    records: ["2001:db8::1"],
    ttl: 60,
    canonicalName: "mx1.example.test",
  });
});

Deno.test("WireResolver.resolve() asks again over TCP when the UDP answer is truncated", async () => {
  await using server = await DnsServer.start({ zone: ZONE, truncate: ["example.test"] });
  const resolver = new WireResolver({ clock: new FakeClock(), nameServers: [server.nameServer] });
  const mx = await resolver.resolve("example.test", "MX");
  assert.equal(mx.kind, "records");
  assert.deepEqual(server.queries.map((q) => q.transport), ["udp", "tcp"]);
});

Deno.test("WireResolver.resolve() moves to the next server after a SERVFAIL", async () => {
  await using failing = await DnsServer.start({ zone: ZONE, servfail: ["example.test"] });
  await using working = await DnsServer.start({ zone: ZONE });
  const resolver = new WireResolver({
    clock: new FakeClock(),
    nameServers: [failing.nameServer, working.nameServer],
  });
  const mx = await resolver.resolve("example.test", "MX");
  assert.equal(mx.kind, "records");
  assert.equal(failing.queries.length, 1);
  assert.equal(working.queries.length, 1);
});

Deno.test("WireResolver.resolve() reports SERVFAIL as a transient error once every attempt failed", async () => {
  await using server = await DnsServer.start({ zone: ZONE, servfail: ["example.test"] });
  const resolver = new WireResolver({
    clock: new FakeClock(),
    nameServers: [server.nameServer],
    attempts: 2,
  });
  const mx = await resolver.resolve("example.test", "MX");
  assert.equal(mx.kind, "error");
  assert.match(mx.kind === "error" ? mx.reason : "", /SERVFAIL/);
  assert.equal(server.queries.length, 2);
});

Deno.test("WireResolver.resolve() times out on the injected clock, once per attempt", async () => {
  await using server = await DnsServer.start({ zone: ZONE, silent: ["example.test"] });
  const clock = new FakeClock();
  const resolver = new WireResolver({
    clock,
    nameServers: [server.nameServer],
    timeoutMs: 3000,
    attempts: 2,
  });
  const pending = resolver.resolve("example.test", "MX");
  for (let attempt = 1; attempt <= 2; attempt++) {
    await until(() => server.queries.length === attempt);
    await clock.untilSleeping();
    await clock.advance(3000);
  }
  const mx = await pending;
  assert.equal(mx.kind, "error");
  assert.match(mx.kind === "error" ? mx.reason : "", /Timed out after 3000 ms/);
  assert.equal(server.queries.length, 2);
});

Deno.test("WireResolver.resolve() rejects with the caller's reason when its signal aborts", async () => {
  await using server = await DnsServer.start({ zone: ZONE, silent: ["example.test"] });
  const clock = new FakeClock();
  const resolver = new WireResolver({ clock, nameServers: [server.nameServer] });
  const abort = new AbortController();
  const pending = resolver.resolve("example.test", "MX", abort.signal);
  await clock.untilSleeping();
  abort.abort(new Error("shutting down"));
  await assert.rejects(pending, /shutting down/);
});

Deno.test("WireResolver.resolve() ignores replies with another ID and rejects another question", async () => {
  // A scripted server: a spoofed reply (wrong ID) first, then the real one, which for
  // "other.test" answers a different question than the one asked.
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  socket.on("message", (query, rinfo) => {
    const spoofed = Buffer.from(query);
    spoofed.writeUInt16BE((query.readUInt16BE(0) + 1) & 0xffff, 0);
    spoofed[2] = spoofed[2]! | 0x80;
    socket.send(spoofed, rinfo.port, rinfo.address);
    const real = Buffer.from(query);
    real[2] = real[2]! | 0x80;
    real.writeUInt16BE(0, 10); // drop the OPT record: an empty NOERROR answer
    const asked = query.toString("latin1");
    const reply = asked.includes("other")
      ? Buffer.from(asked.replace("other", "evilx"), "latin1")
      : real;
    reply[2] = reply[2]! | 0x80;
    reply.writeUInt16BE(0, 10);
    socket.send(reply.subarray(0, query.length - 11), rinfo.port, rinfo.address);
  });
  try {
    const resolver = new WireResolver({
      clock: new FakeClock(),
      nameServers: [{ ipAddr: "127.0.0.1", port: socket.address().port }],
      attempts: 1,
    });
    assert.deepEqual(await resolver.resolve("some.test", "MX"), { kind: "nodata", ttl: 0 });
    const other = await resolver.resolve("other.test", "MX");
    assert.equal(other.kind, "error");
    assert.match(other.kind === "error" ? other.reason : "", /another question/);
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
});

Deno.test({
  name: "WireResolver.resolve() asks an IPv6 name server over UDP and TCP",
  ignore: requirePeer("IPv6 loopback", !hasIpv6Loopback()),
  async fn() {
    await using server = await DnsServer.start({
      zone: ZONE,
      hostname: "::1",
      truncate: ["example.test"],
    });
    const resolver = new WireResolver({ clock: new FakeClock(), nameServers: [server.nameServer] });
    assert.equal((await resolver.resolve("mx1.example.test", "A")).kind, "records");
    assert.equal((await resolver.resolve("example.test", "MX")).kind, "records");
    assert.deepEqual(server.queries.map((q) => q.transport), ["udp", "udp", "tcp"]);
  },
});

Deno.test("WireResolver() refuses an empty or non-IP name server list", () => {
  const clock = new FakeClock();
  assert.throws(
    () => new WireResolver({ clock, nameServers: [] }),
    /Cannot create WireResolver as 'nameServers' must not be empty/,
  );
  assert.throws(
    () => new WireResolver({ clock, nameServers: [{ ipAddr: "dns.example" }] }),
    /name server "dns.example" is not an IP address/,
  );
});

/** Lets the event loop turn until `done()` holds (bounded; no time passes on any clock). */
async function until(done: () => boolean, maxTurns = 10_000): Promise<void> {
  for (let i = 0; i < maxTurns && !done(); i++) await new Promise((r) => setTimeout(r, 0));
  assert.ok(done(), "condition not reached");
}

function hasIpv6Loopback(): boolean {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}
