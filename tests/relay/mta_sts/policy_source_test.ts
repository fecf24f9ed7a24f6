/** The policy decisions of RFC 8461 §3.3 and §5.1, on a fake clock with scripted DNS and web. */
import assert from "node:assert/strict";
import { FakeClock } from "../../_fakes/fake_clock.ts";
import {
  MemoryMtaStsStore,
  MtaSts,
  type MtaStsDecision,
  type MtaStsStore,
} from "../../../relay/mta_sts/mod.ts";
import { policyFile, ScriptedDns, ScriptedWeb } from "./_fakes.ts";

const DAY = 86_400_000;
const WEEK_S = 7 * 86_400;
const ENFORCE = policyFile("enforce", WEEK_S, "mx1.example.com", "*.example.net");

function setup(o: { store?: MtaStsStore; refreshAfterMs?: number } = {}) {
  const clock = new FakeClock();
  const dns = new ScriptedDns();
  const web = new ScriptedWeb();
  const store = o.store ?? new MemoryMtaStsStore();
  const mtaSts = new MtaSts({
    clock,
    lookupTxt: dns.lookupTxt,
    fetchPolicy: web.fetchPolicy,
    store,
    ...(o.refreshAfterMs ? { refreshAfterMs: o.refreshAfterMs } : {}),
  });
  return { clock, dns, web, store, mtaSts };
}

/** The decision without the stored policy's bulk: what the tests compare. */
function brief(d: MtaStsDecision) {
  return {
    mode: d.mode,
    ...(d.mode === "none" ? { reason: d.reason } : {}),
    ...(d.source ? { source: d.source } : {}),
    ...(d.policy ? { id: d.policy.id } : {}),
    warned: d.warning !== undefined,
  };
}

Deno.test("no TXT record and nothing stored: no policy, nothing fetched, nothing to warn", async () => {
  const { mtaSts, dns, web } = setup();
  assert.deepEqual(await mtaSts.policyFor("Example.COM."), {
    mode: "none",
    domain: "example.com",
    reason: "no-record",
  });
  assert.deepEqual(dns.asked, ["_mta-sts.example.com"]);
  assert.deepEqual(web.fetched, []);
  dns.set("example.com", { kind: "nodata" });
  assert.equal((await mtaSts.policyFor("example.com")).mode, "none");
  // TXT records of other kinds are not MTA-STS records.
  dns.set("example.com", ["v=spf1 -all"]);
  assert.deepEqual(brief(await mtaSts.policyFor("example.com")), {
    mode: "none",
    reason: "no-record",
    warned: false,
  });
});

Deno.test("a new policy is fetched, applied and stored until fetched_at + max_age", async () => {
  const { mtaSts, dns, web, store, clock } = setup();
  dns.set("example.com", ["v=STSv1; id=20260101;"]);
  web.set("example.com", ENFORCE);
  const decision = await mtaSts.policyFor("example.com");
  assert.deepEqual(brief(decision), {
    mode: "enforce",
    source: "fetched",
    id: "20260101",
    warned: false,
  });
  const stored = await store.get("example.com");
  assert.deepEqual(stored, {
    domain: "example.com",
    id: "20260101",
    mode: "enforce",
    mx: ["mx1.example.com", "*.example.net"],
    maxAge: WEEK_S,
    fetchedAt: clock.now(),
    expiresAt: clock.now() + WEEK_S * 1000,
    lastError: null,
  });
  assert.deepEqual(decision.policy, stored);
});

Deno.test("while the TXT id matches, the stored policy is used without fetching", async () => {
  const { mtaSts, dns, web, clock } = setup();
  dns.set("example.com", ["v=STSv1; id=1;"]);
  web.set("example.com", ENFORCE);
  await mtaSts.policyFor("example.com");
  await clock.advance(DAY - 1);
  assert.deepEqual(brief(await mtaSts.policyFor("example.com")), {
    mode: "enforce",
    source: "cache",
    id: "1",
    warned: false,
  });
  assert.equal(web.fetched.length, 1);
});

Deno.test("a policy in use is fetched again after refreshAfterMs, pushing its expiry out", async () => {
  const { mtaSts, dns, web, clock, store } = setup({ refreshAfterMs: DAY });
  dns.set("example.com", ["v=STSv1; id=1;"]);
  web.set("example.com", ENFORCE);
  await mtaSts.policyFor("example.com");
  await clock.advance(DAY);
  assert.equal((await mtaSts.policyFor("example.com")).source, "fetched");
  assert.equal(web.fetched.length, 2);
  assert.equal((await store.get("example.com"))?.expiresAt, clock.now() + WEEK_S * 1000);
});

Deno.test("a new TXT id means a fetch at once, and the new policy replaces the stored one", async () => {
  const { mtaSts, dns, web, clock } = setup();
  dns.set("example.com", ["v=STSv1; id=1;"]);
  web.set("example.com", policyFile("testing", WEEK_S, "mx1.example.com"));
  assert.equal((await mtaSts.policyFor("example.com")).mode, "testing");
  await clock.advance(60_000);
  dns.set("example.com", ["v=STSv1; id=2;"]);
  web.set("example.com", ENFORCE);
  assert.deepEqual(brief(await mtaSts.policyFor("example.com")), {
    mode: "enforce",
    source: "fetched",
    id: "2",
    warned: false,
  });
  assert.equal(web.fetched.length, 2);
});

Deno.test("a failed fetch keeps an unexpired stored policy in force and notes the error", async () => {
  const { mtaSts, dns, web, clock, store } = setup();
  dns.set("example.com", ["v=STSv1; id=1;"]);
  web.set("example.com", ENFORCE);
  await mtaSts.policyFor("example.com");
  await clock.advance(DAY);
  dns.set("example.com", ["v=STSv1; id=2;"]);
  web.set("example.com", "!connection refused");
  const decision = await mtaSts.policyFor("example.com");
  assert.deepEqual(brief(decision), {
    mode: "enforce",
    source: "fallback",
    id: "1",
    warned: true,
  });
  assert.match(
    decision.warning ?? "",
    /connection refused; applying the stored policy, valid until/,
  );
  assert.deepEqual((await store.get("example.com"))?.lastError, {
    message: "connection refused",
    at: clock.now(),
  });
});

Deno.test("a failed fetch with nothing stored, or only an expired policy, is no policy", async () => {
  const { mtaSts, dns, web, clock } = setup();
  dns.set("example.com", ["v=STSv1; id=1;"]);
  web.set("example.com", "!HTTP status 500");
  const first = await mtaSts.policyFor("example.com");
  assert.deepEqual(brief(first), { mode: "none", reason: "fetch-failed", warned: true });
  assert.equal(first.warning, "HTTP status 500");

  web.set("example.com", policyFile("enforce", 3600, "mx1.example.com"));
  assert.equal((await mtaSts.policyFor("example.com")).mode, "enforce");
  await clock.advance(3600_000); // expires exactly now
  web.set("example.com", "!timed out");
  assert.deepEqual(brief(await mtaSts.policyFor("example.com")), {
    mode: "none",
    reason: "fetch-failed",
    warned: true,
  });
});

Deno.test("a malformed policy file counts as a failed fetch", async () => {
  const { mtaSts, dns, web } = setup();
  dns.set("example.com", ["v=STSv1; id=1;"]);
  web.set("example.com", "version: STSv1\nmode: enforce\nmax_age: 60\n");
  const decision = await mtaSts.policyFor("example.com");
  assert.deepEqual(brief(decision), { mode: "none", reason: "invalid-policy", warned: true });
  assert.match(decision.warning ?? "", /the policy of example\.com is invalid: .*at least one mx/);
  dns.set("example.com", ["v=STSv1; id=2;"]);
  web.set("example.com", ENFORCE);
  assert.equal((await mtaSts.policyFor("example.com")).mode, "enforce");
  dns.set("example.com", ["v=STSv1; id=3;"]);
  web.set("example.com", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 99999999999\n");
  assert.deepEqual(brief(await mtaSts.policyFor("example.com")), {
    mode: "enforce",
    source: "fallback",
    id: "2",
    warned: true,
  });
});

Deno.test("a missing, broken or unanswered TXT record leaves a stored policy in force until it expires", async () => {
  const { mtaSts, dns, web, clock } = setup();
  dns.set("example.com", ["v=STSv1; id=1;"]);
  web.set("example.com", ENFORCE);
  await mtaSts.policyFor("example.com");

  const answers = [
    { kind: "nxdomain" } as const,
    ["v=STSv1; id=1;", "v=STSv1; id=2;"],
    ["v=STSv1; id=not valid"],
    { kind: "error", reason: "SERVFAIL" } as const,
  ];
  for (const answer of answers) {
    dns.set("example.com", answer);
    const d = await mtaSts.policyFor("example.com");
    assert.deepEqual(brief(d), { mode: "enforce", source: "fallback", id: "1", warned: true });
  }
  assert.equal(web.fetched.length, 1);

  await clock.advance(WEEK_S * 1000);
  const after = new Map<string, MtaStsDecision>();
  for (const answer of answers) {
    dns.set("example.com", answer);
    const d = await mtaSts.policyFor("example.com");
    after.set(d.mode === "none" ? d.reason : d.mode, d);
  }
  assert.deepEqual([...after.keys()], ["no-record", "invalid-record", "dns-error"]);
  assert.equal(after.get("no-record")?.warning, undefined);
  assert.match(after.get("invalid-record")?.warning ?? "", /TXT _mta-sts\.example\.com: /);
  assert.match(after.get("dns-error")?.warning ?? "", /SERVFAIL/);
  assert.equal(web.fetched.length, 1);
});

Deno.test("a published mode none withdraws the policy, and is itself cached", async () => {
  const { mtaSts, dns, web } = setup();
  dns.set("example.com", ["v=STSv1; id=1;"]);
  web.set("example.com", ENFORCE);
  await mtaSts.policyFor("example.com");
  dns.set("example.com", ["v=STSv1; id=2;"]);
  web.set("example.com", policyFile("none", WEEK_S));
  assert.deepEqual(brief(await mtaSts.policyFor("example.com")), {
    mode: "none",
    reason: "policy-none",
    source: "fetched",
    id: "2",
    warned: false,
  });
  assert.equal((await mtaSts.policyFor("example.com")).source, "cache");
  assert.equal(web.fetched.length, 2);
});

Deno.test("concurrent calls for one domain share one lookup and one fetch", async () => {
  const { mtaSts, dns, web } = setup();
  dns.set("example.com", ["v=STSv1; id=1;"]);
  web.set("example.com", ENFORCE);
  const decisions = await Promise.all([1, 2, 3].map(() => mtaSts.policyFor("example.com")));
  assert.deepEqual(decisions.map((d) => d.mode), ["enforce", "enforce", "enforce"]);
  assert.equal(dns.asked.length, 1);
  assert.equal(web.fetched.length, 1);
  await mtaSts.policyFor("example.com");
  assert.equal(dns.asked.length, 2, "a later call looks again");
});

Deno.test("when another instance stored a later policy meanwhile, that one is applied", async () => {
  const { mtaSts, dns, web, store, clock } = setup();
  dns.set("example.com", ["v=STSv1; id=1;"]);
  web.set("example.com", policyFile("testing", WEEK_S, "old.example.com"));
  web.during = async () => {
    await store.put({
      domain: "example.com",
      id: "2",
      mode: "enforce",
      mx: ["new.example.com"],
      maxAge: WEEK_S,
      fetchedAt: clock.now() + 1,
      expiresAt: clock.now() + 1 + WEEK_S * 1000,
    });
  };
  const decision = await mtaSts.policyFor("example.com");
  assert.deepEqual(brief(decision), {
    mode: "enforce",
    source: "fetched",
    id: "2",
    warned: false,
  });
  assert.deepEqual(decision.policy?.mx, ["new.example.com"]);
});

Deno.test("a store that cannot be written still lets the fetched policy apply, with a warning", async () => {
  const memory = new MemoryMtaStsStore();
  const broken: MtaStsStore = {
    get: (domain) => memory.get(domain),
    put: () => Promise.reject(new Error("database down")),
    noteError: () => Promise.reject(new Error("database down")),
  };
  const { mtaSts, dns, web } = setup({ store: broken });
  dns.set("example.com", ["v=STSv1; id=1;"]);
  web.set("example.com", ENFORCE);
  const decision = await mtaSts.policyFor("example.com");
  assert.equal(decision.mode, "enforce");
  assert.match(decision.warning ?? "", /cannot store the policy of example\.com: database down/);
});

Deno.test("a store that cannot be read makes policyFor() reject: the caller defers", async () => {
  const { mtaSts } = setup({
    store: {
      get: () => Promise.reject(new Error("database down")),
      put: () => Promise.resolve(true),
      noteError: () => Promise.resolve(),
    },
  });
  await assert.rejects(mtaSts.policyFor("example.com"), /database down/);
});

Deno.test("an aborted caller stops waiting; the others still get the decision", async () => {
  const { mtaSts, dns, web } = setup();
  dns.set("example.com", ["v=STSv1; id=1;"]);
  web.set("example.com", ENFORCE);
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  web.during = () => gate;
  const abort = new AbortController();
  const abandoned = mtaSts.policyFor("example.com", abort.signal);
  const patient = mtaSts.policyFor("example.com");
  abort.abort(new Error("shutting down"));
  await assert.rejects(abandoned, /shutting down/);
  open();
  assert.equal((await patient).mode, "enforce");
  await assert.rejects(mtaSts.policyFor("example.com", abort.signal), /shutting down/);
});

Deno.test("a name that cannot be a domain has no policy and causes no lookup", async () => {
  const { mtaSts, dns } = setup();
  assert.deepEqual(await mtaSts.policyFor("[192.0.2.1]"), {
    mode: "none",
    domain: "[192.0.2.1]",
    reason: "not-a-domain",
  });
  assert.equal((await mtaSts.policyFor("192.0.2.1")).mode, "none");
  assert.deepEqual(dns.asked, []);
  const { clock, dns: d, web, store } = setup();
  const ports = { clock, lookupTxt: d.lookupTxt, fetchPolicy: web.fetchPolicy, store };
  assert.throws(
    () => new MtaSts({ ...ports, refreshAfterMs: 0 }),
    /'refreshAfterMs' must be > 0/,
  );
});

Deno.test("an internationalised domain is looked up and fetched by its A-labels", async () => {
  const { mtaSts, dns, web } = setup();
  dns.set("xn--bcher-kva.example", ["v=STSv1; id=1;"]);
  web.set("xn--bcher-kva.example", ENFORCE);
  const decision = await mtaSts.policyFor("Bücher.example");
  assert.equal(decision.domain, "xn--bcher-kva.example");
  assert.equal(decision.mode, "enforce");
  assert.deepEqual(dns.asked, ["_mta-sts.xn--bcher-kva.example"]);
  assert.deepEqual(web.fetched, ["xn--bcher-kva.example"]);
});

Deno.test("ports that reject instead of answering count as a failed lookup or fetch", async () => {
  const clock = new FakeClock();
  const dns = new ScriptedDns().set("example.com", ["v=STSv1; id=1;"]);
  const mtaSts = new MtaSts({
    clock,
    lookupTxt: (name) =>
      name.includes("broken") ? Promise.reject(new Error("socket gone")) : dns.lookupTxt(name),
    fetchPolicy: () => Promise.reject(new Error("fetcher crashed")),
    store: new MemoryMtaStsStore(),
  });
  const lookup = await mtaSts.policyFor("broken.example");
  assert.deepEqual(brief(lookup), { mode: "none", reason: "dns-error", warned: true });
  assert.match(lookup.warning ?? "", /socket gone/);
  const fetch = await mtaSts.policyFor("example.com");
  assert.deepEqual(brief(fetch), { mode: "none", reason: "fetch-failed", warned: true });
  assert.equal(fetch.warning, "fetcher crashed");
});
