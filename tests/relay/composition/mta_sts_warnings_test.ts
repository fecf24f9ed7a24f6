/**
 * The relay logs what RFC 8461 §5.1 asks administrators to be told of: a refresh that failed
 * while a stored policy is applied, unless that policy's mode is `none`.
 */
import assert from "node:assert/strict";
import { logMtaStsWarnings } from "../../../relay/composition/relay.ts";
import type { LogEvent } from "../../../relay/composition/log.ts";
import { MemoryMtaStsStore, MtaSts } from "../../../relay/mta_sts/mod.ts";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import { policyFile, ScriptedDns, ScriptedWeb } from "../mta_sts/_fakes.ts";

function setup() {
  const clock = new FakeClock();
  const dns = new ScriptedDns();
  const web = new ScriptedWeb();
  const events: LogEvent[] = [];
  const mtaSts = logMtaStsWarnings(
    new MtaSts({
      clock,
      lookupTxt: dns.lookupTxt,
      fetchPolicy: web.fetchPolicy,
      store: new MemoryMtaStsStore(),
    }),
    { log: (e) => events.push(e) },
  );
  return { dns, web, events, mtaSts };
}

Deno.test("a failed refresh of an enforced policy is logged, the stored policy still applied", async () => {
  const { dns, web, events, mtaSts } = setup();
  dns.set("example.com", ["v=STSv1; id=1;"]);
  web.set("example.com", policyFile("enforce", 86_400, "mx.example.com"));
  assert.equal((await mtaSts.policyFor("example.com")).mode, "enforce");
  assert.equal(events.length, 0, "a good fetch is not news");

  dns.set("example.com", ["v=STSv1; id=2;"]);
  web.set("example.com", "!connection refused");
  const decision = await mtaSts.policyFor("example.com");
  assert.equal(decision.mode, "enforce");
  assert.equal(decision.source, "fallback");
  assert.equal(events.length, 1);
  const event = events[0]!;
  assert.ok(event.event === "mta_sts.warning", JSON.stringify(event));
  assert.equal(event.domain, "example.com");
  assert.equal(event.mode, "enforce");
  assert.match(event.warning, /^connection refused; applying the stored policy, valid until /);
});

Deno.test("a failed refresh of a stored mode none policy is not logged", async () => {
  const { dns, web, events, mtaSts } = setup();
  dns.set("example.com", ["v=STSv1; id=1;"]);
  web.set("example.com", policyFile("none", 86_400));
  await mtaSts.policyFor("example.com");
  dns.set("example.com", ["v=STSv1; id=2;"]);
  web.set("example.com", "!connection refused");
  const decision = await mtaSts.policyFor("example.com");
  assert.equal(decision.mode === "none" && decision.source, "fallback");
  assert.ok(decision.warning, "the library still says what went wrong");
  assert.equal(events.length, 0);
});
