import assert from "node:assert/strict";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { DnsServer } from "../../_fakes/dns_server.ts";
import { DenoResolver } from "../../../relay/dns/deno_resolver.ts";

Deno.test("DenoResolver.resolve() gives answers the configured TTLs, as Deno reports none", async () => {
  await using server = await DnsServer.start({
    zone: { "example.test": { a: ["192.0.2.7"] } },
    ttl: 5,
  });
  const resolver = new DenoResolver({
    clock: new FakeClock(),
    nameServer: server.nameServer,
    ttl: 42,
    negativeTtl: 7,
  });
  assert.deepEqual(await resolver.resolve("example.test", "A"), {
    kind: "records",
    records: ["192.0.2.7"],
    ttl: 42,
  });
  assert.deepEqual(await resolver.resolve("gone.test", "A"), { kind: "notfound", ttl: 7 });
});

Deno.test("DenoResolver.resolve() gives up at its deadline on the injected clock", async () => {
  await using server = await DnsServer.start({ zone: {}, silent: ["slow.test"] });
  const clock = new FakeClock();
  const resolver = new DenoResolver({ clock, nameServer: server.nameServer, timeoutMs: 2000 });
  const pending = resolver.resolve("slow.test", "MX");
  await clock.untilSleeping();
  await clock.advance(2000);
  const answer = await pending;
  assert.equal(answer.kind, "error");
  assert.match(answer.kind === "error" ? answer.reason : "", /Timed out after 2000 ms/);
});

Deno.test("DenoResolver.resolve() turns other failures into transient errors", async () => {
  const resolver = new DenoResolver({
    clock: new FakeClock(),
    resolveDns: (() => Promise.reject(new Deno.errors.ConnectionRefused("refused"))) as never,
  });
  const answer = await resolver.resolve("example.test", "MX");
  assert.equal(answer.kind, "error");
  assert.match(
    answer.kind === "error" ? answer.reason : "",
    /DNS MX lookup of example.test failed: refused/,
  );
});

Deno.test("DenoResolver.resolve() rejects with the caller's reason when its signal aborts", async () => {
  await using server = await DnsServer.start({ zone: {}, silent: ["slow.test"] });
  const clock = new FakeClock();
  const resolver = new DenoResolver({ clock, nameServer: server.nameServer });
  const abort = new AbortController();
  const pending = resolver.resolve("slow.test", "A", abort.signal);
  await clock.untilSleeping();
  abort.abort(new Error("stop"));
  await assert.rejects(pending, /stop/);
});
