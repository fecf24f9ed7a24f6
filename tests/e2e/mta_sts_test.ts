/**
 * MTA-STS (RFC 8461) end to end, every component real and on loopback: the relay's resolver
 * asks a local DNS server (MX, A and `_mta-sts` TXT records), policy files come over HTTPS from
 * a server on 127.0.0.1 whose certificate a test CA signed, and one private Postfix plays the
 * three MX hosts, each on its own loopback address and the relay's MX port: one with a valid
 * certificate for its MX name, one whose certificate expired, one that offers no STARTTLS.
 *
 * One recipient domain per case, each ending as RFC 8461 §5 requires, with the reason in
 * `ferry.deliveries` and `ferry.events`; then, on the same relay, a TXT id change brings a new
 * policy (§3.3, §5.1); then a second relay on the same database, with the HTTPS server down and
 * the MX record pointing elsewhere, still enforces the stored policy (§5.1). Time is the relay's
 * fake clock; only Postfix, DNS and HTTPS run in real time.
 */
import assert from "node:assert/strict";
import { freePort, hasPostfix, startPostfix } from "../_peers/postfix.ts";
import { requirePeer } from "../_support/peers.ts";
import { testDatabase } from "../_support/db.ts";
import { FakeClock } from "../_fakes/fake_clock.ts";
import { DnsServer, type ZoneEntry } from "../_fakes/dns_server.ts";
import { hasOpenssl, testCa } from "../relay/mta_sts/_pki.ts";
import { policyFile } from "../relay/mta_sts/_fakes.ts";
import { CachingResolver, type Resolver, WireResolver } from "../../relay/dns/mod.ts";
import { type FetchPolicy, httpsPolicyFetcher, POLICY_PATH } from "../../relay/mta_sts/mod.ts";
import { enqueue, startTestRelay, T0, type TestRelay } from "./_relay.ts";

/** The MX hosts: a name, and the loopback address its Postfix service listens on. */
const VALID = "mx.valid-cert.test";
const EXPIRED = "mx.expired-cert.test";
const NO_TLS = "mx.no-tls.test";
/** Another name for the first host, which its certificate does not name. */
const WRONG_NAME = "mx.wrong-name.test";
const ADDRESS: Record<string, string> = {
  [VALID]: "127.0.0.2",
  [EXPIRED]: "127.0.0.3",
  [NO_TLS]: "127.0.0.4",
  [WRONG_NAME]: "127.0.0.2",
};
/** A host no MX record names: what a policy lists when the MX records disagree with it. */
const ELSEWHERE = "mx.elsewhere.test";

const WEEK = 604_800;

interface Case {
  /** The domain's one MX host. */
  readonly mx: string;
  /** The policy file served (its TXT record id is "1"); none: no `_mta-sts` record at all. */
  readonly policy?: string;
}

/**
 * The matrix. Several domains share an MX host, as domains hosted together do: the relay may
 * group their mail by MX host, and each must still get its own policy.
 */
const CASES: Record<string, Case> = {
  "enforce.test": { mx: VALID, policy: policyFile("enforce", WEEK, VALID) },
  "mismatch.test": { mx: VALID, policy: policyFile("enforce", WEEK, ELSEWHERE) },
  "expired.test": { mx: EXPIRED, policy: policyFile("enforce", WEEK, EXPIRED) },
  "wrong-name.test": { mx: WRONG_NAME, policy: policyFile("enforce", WEEK, WRONG_NAME) },
  "stripped.test": { mx: NO_TLS, policy: policyFile("enforce", WEEK, NO_TLS) },
  "testing-mx.test": { mx: VALID, policy: policyFile("testing", WEEK, ELSEWHERE) },
  "testing-tls.test": { mx: EXPIRED, policy: policyFile("testing", WEEK, EXPIRED) },
  "mode-none.test": { mx: EXPIRED, policy: policyFile("none", WEEK) },
  "no-txt.test": { mx: VALID },
};

const LOCAL = "refused by Ferry, not by the receiver:";

function zoneOf(cases: Record<string, Case>): Record<string, ZoneEntry> {
  const zone: Record<string, ZoneEntry> = {};
  for (const [host, address] of Object.entries(ADDRESS)) zone[host] = { a: [address] };
  for (const [domain, c] of Object.entries(cases)) {
    zone[domain] = { mx: [{ preference: 10, exchange: c.mx }] };
    if (c.policy) zone[`_mta-sts.${domain}`] = { txt: [txt("1")] };
  }
  return zone;
}

function txt(id: string): string {
  return `v=STSv1; id=${id};`;
}

/** The policy web server of every test domain (`mta-sts.<domain>`), on 127.0.0.1. */
class PolicyServer {
  readonly files = new Map<string, string>();
  /** Domains whose policy was asked for, in order. */
  readonly asked: string[] = [];
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  #port = 0;

  constructor(readonly cert: { readonly certPem: string; readonly keyPem: string }) {}

  /** The port it listens on, or listened on last (refusing connections once stopped). */
  get port(): number {
    return this.#port;
  }

  start(): void {
    this.#server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: this.cert.certPem,
      key: this.cert.keyPem,
      onListen: () => {},
    }, (req) => {
      const host = (req.headers.get("host") ?? "").replace(/:\d+$/, "");
      const domain = host.replace(/^mta-sts\./, "");
      this.asked.push(domain);
      const file = new URL(req.url).pathname === POLICY_PATH ? this.files.get(domain) : undefined;
      return file === undefined
        ? new Response("no policy here\n", { status: 404 })
        : new Response(file, { headers: { "content-type": "text/plain" } });
    });
    this.#port = this.#server.addr.port;
  }

  async stop(): Promise<void> {
    await this.#server?.shutdown();
    this.#server = undefined;
  }
}

/** Counts lookups and fetches in flight, so the pump moves fake time only once they are done. */
class Busy {
  count = 0;
  run<T>(work: () => Promise<T>): Promise<T> {
    this.count++;
    return work().finally(() => this.count--);
  }
}

interface Row {
  readonly status: string;
  readonly last_code: number | null;
  readonly last_reply: string | null;
  readonly mx_host: string | null;
  readonly attempts: number;
}

async function rows(r: TestRelay): Promise<Record<string, Row>> {
  const found = await r.t.db.selectFrom("ferry.deliveries")
    .select(["recipient", "status", "last_code", "last_reply", "mx_host", "attempts"])
    .orderBy("id").execute();
  return Object.fromEntries(found.map((d) => [d.recipient.split("@")[1]!, d]));
}

async function lastEvents(
  r: TestRelay,
): Promise<
  Record<string, { kind: string; code: number | null; reply: string | null; tls: boolean | null }>
> {
  const found = await r.t.db.selectFrom("ferry.events")
    .innerJoin("ferry.deliveries", "ferry.deliveries.id", "ferry.events.delivery_id")
    .select([
      "ferry.deliveries.recipient",
      "ferry.events.kind",
      "ferry.events.code",
      "ferry.events.reply",
      "ferry.events.tls",
    ])
    .orderBy("ferry.events.id").execute();
  return Object.fromEntries(
    found.map((e) => [e.recipient.split("@")[1]!, {
      kind: e.kind,
      code: e.code,
      reply: e.reply,
      tls: e.tls,
    }]),
  );
}

async function policies(r: TestRelay) {
  const found = await r.t.db.selectFrom("ferry.mta_sts_policies").selectAll().orderBy("domain")
    .execute();
  return Object.fromEntries(found.map((p) => [p.domain, p]));
}

Deno.test({
  name: "MTA-STS end to end: enforce, testing and none against a real MX, a restart, a new id",
  ignore: requirePeer("postfix+openssl", !hasPostfix || !hasOpenssl),
  sanitizeResources: false, // Postfix's sockets and the HTTPS server's connections
  sanitizeOps: false,
  async fn(t) {
    const started = performance.now();
    const ca = await testCa();
    const webCert = await ca.leaf(Object.keys(CASES).map((d) => `mta-sts.${d}`));
    const validCert = await ca.leaf([VALID]);
    const expiredCert = await ca.expiredLeaf([EXPIRED]);

    const domains = Object.keys(CASES);
    const port = freePort();
    await using postfix = await startPostfix({
      domains,
      listeners: [
        { name: "valid", hostname: ADDRESS[VALID]!, port, tls: validCert },
        { name: "expired", hostname: ADDRESS[EXPIRED]!, port, tls: expiredCert },
        { name: "notls", hostname: ADDRESS[NO_TLS]!, port, tls: null },
      ],
    });
    const zone = zoneOf(CASES);
    await using dns = await DnsServer.start({ zone, ttl: 60 });
    const web = new PolicyServer(webCert);
    for (const [domain, c] of Object.entries(CASES)) if (c.policy) web.files.set(domain, c.policy);
    web.start();

    const clock = new FakeClock(T0);
    const busy = new Busy();
    /** What each fetch of the relay got: the domain and whether a policy came back. */
    const fetches: { domain: string; ok: boolean }[] = [];
    // A relay's own DNS cache and policy fetcher, as a process would have: a restart loses them.
    const deps = () => {
      const wire = new CachingResolver(
        new WireResolver({ clock, nameServers: [dns.nameServer], attempts: 1 }),
        { clock },
      );
      const resolver: Resolver = {
        resolve: (name, type, signal) => busy.run(() => wire.resolve(name, type, signal)),
      };
      const fetchMtaStsPolicy: FetchPolicy = (domain, signal) =>
        busy.run(async () => {
          // The real HTTPS client, its TCP connection sent to the test server: the certificate
          // is still verified for mta-sts.<domain>, against the test CA.
          const got = await httpsPolicyFetcher({
            clock,
            caCerts: [ca.caPem],
            connectTo: { hostname: "127.0.0.1", port: web.port },
          })(domain, signal);
          fetches.push({ domain, ok: got.ok });
          return got;
        });
      return { resolver, fetchMtaStsPolicy, mxPort: port };
    };
    await using db = await testDatabase();
    const options = {
      routes: "",
      config: { delivery: { caFile: ca.caFile } },
      database: db,
      clock,
    };
    const subjects = async (count: number) =>
      (await postfix.delivered(count)).map((m) =>
        new TextDecoder().decode(m).match(/^Subject: (.*)$/m)?.[1]
      ).sort();
    // Every session the no-STARTTLS host saw: the line Postfix logs when a client leaves, with
    // the commands it sent (`ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5`). Postfix writes
    // its log on its own time: wait for it, bounded, as for any external daemon.
    const plaintextSessions = async (atLeast = 0) => {
      for (let i = 0;; i++) {
        const lines = (await postfix.log()).split("\n").filter((l) =>
          l.includes("postfix/notls/smtpd") && /disconnect from .* ehlo=/.test(l)
        );
        if (lines.length >= atLeast || i === 100) return lines;
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    try {
      {
        await using r = await startTestRelay({ ...options, deps: deps() });
        r.io.probe(() => busy.count);

        await t.step("each case ends as RFC 8461 says", async () => {
          for (const domain of domains) {
            await enqueue(r, { to: [`user@${domain}`], subject: domain });
          }
          await r.pumpUntil(
            async () => {
              const now = await rows(r);
              return domains.every((d) => ["delivered", "deferred"].includes(now[d]?.status ?? ""));
            },
            "every mail delivered or deferred",
            250,
            400,
          );
          const now = await rows(r);
          const events = await lastEvents(r);
          const report = (d: string) =>
            `${d}: ${JSON.stringify(now[d])} ${JSON.stringify(events[d])}`;
          console.log(domains.map(report).join("\n"));

          // Delivered: enforce with a listed MX whose certificate is valid for its name (over
          // verified TLS); testing with an unlisted MX, or an expired certificate; a `none`
          // policy and no record at all, as before (opportunistic TLS).
          for (
            const [d, mx] of [
              ["enforce.test", VALID],
              ["testing-mx.test", VALID],
              ["testing-tls.test", EXPIRED],
              ["mode-none.test", EXPIRED],
              ["no-txt.test", VALID],
            ]
          ) {
            assert.equal(now[d!]?.status, "delivered", report(d!));
            assert.equal(now[d!]?.last_code, 250, report(d!));
            assert.equal(now[d!]?.mx_host, mx, report(d!));
            assert.equal(events[d!]?.kind, "delivered", report(d!));
            assert.equal(events[d!]?.tls, true, report(d!));
          }

          // enforce, MX not listed: nothing sent, the reason names both sides.
          assert.equal(now["mismatch.test"]?.status, "deferred");
          assert.equal(now["mismatch.test"]?.last_code, 451);
          assert.equal(
            now["mismatch.test"]?.last_reply,
            `451 4.7.5 ${LOCAL} the MTA-STS policy of mismatch.test (enforce) lists none of its MX hosts: ${VALID} not in ${ELSEWHERE}`,
          );
          // enforce, expired certificate: the verified handshake fails, the mail waits.
          assert.equal(now["expired.test"]?.status, "deferred");
          assert.equal(now["expired.test"]?.last_code, 451);
          assert.match(
            now["expired.test"]!.last_reply!,
            new RegExp(`^451 4\\.7\\.5 TLS handshake with ${EXPIRED} failed: .*expired`, "i"),
          );
          assert.equal(now["expired.test"]?.mx_host, EXPIRED);
          // enforce, a certificate for another name than the MX's: the same.
          assert.equal(now["wrong-name.test"]?.status, "deferred");
          assert.equal(now["wrong-name.test"]?.last_code, 451);
          assert.match(
            now["wrong-name.test"]!.last_reply!,
            new RegExp(
              `^451 4\\.7\\.5 TLS handshake with ${WRONG_NAME} failed: .*not valid for`,
              "i",
            ),
          );
          // enforce, no STARTTLS offered: never sent in plaintext.
          assert.equal(now["stripped.test"]?.status, "deferred");
          assert.equal(now["stripped.test"]?.last_code, 451);
          assert.equal(
            now["stripped.test"]?.last_reply,
            `451 4.7.4 TLS is required (policy 'verified') but ${NO_TLS} does not offer STARTTLS`,
          );
          for (const d of ["mismatch.test", "expired.test", "wrong-name.test", "stripped.test"]) {
            assert.equal(events[d]?.kind, "deferred", report(d));
            assert.equal(events[d]?.code, 451, report(d));
            assert.equal(events[d]?.reply, now[d]?.last_reply, report(d));
          }

          assert.deepEqual(await subjects(5), [
            "enforce.test",
            "mode-none.test",
            "no-txt.test",
            "testing-mx.test",
            "testing-tls.test",
          ]);
          const plain = await plaintextSessions(1);
          assert.ok(plain.length >= 1, "the relay did talk to the host without STARTTLS");
          for (const line of plain) assert.doesNotMatch(line, /mail=|rcpt=|data=/, line);

          const stored = await policies(r);
          assert.deepEqual(
            Object.keys(stored),
            domains.filter((d) => CASES[d]!.policy).sort(),
            "every published policy is in ferry.mta_sts_policies",
          );
          assert.equal(stored["enforce.test"]?.mode, "enforce");
          assert.deepEqual(stored["enforce.test"]?.mx, [VALID]);
          assert.equal(stored["enforce.test"]?.policy_id, "1");
          assert.equal(stored["mode-none.test"]?.mode, "none");
          assert.deepEqual(r.events.filter((e) => e.event === "mta_sts.warning"), []);
        });

        await t.step("a new TXT id brings the new policy", async () => {
          const before = fetches.filter((f) => f.domain === "mismatch.test").length;
          web.files.set("mismatch.test", policyFile("enforce", WEEK, VALID));
          zone["_mta-sts.mismatch.test"] = { txt: [txt("2")] };
          // The retry comes minutes later: past the DNS TTL and the relay's short memory. The
          // other deferred mail is retried then too, and must still wait.
          await r.pumpUntil(
            async () => {
              const now = await rows(r);
              return now["mismatch.test"]?.status === "delivered" &&
                ["expired.test", "wrong-name.test", "stripped.test"].every((d) =>
                  now[d]?.status === "deferred" && now[d]?.attempts === 2
                );
            },
            "the deferred mail delivered under the new policy, the others tried again",
            5_000,
            200,
          );
          const row = (await rows(r))["mismatch.test"]!;
          console.log(`mismatch.test after the id change: ${JSON.stringify(row)}`);
          assert.equal(row.last_code, 250);
          assert.equal(row.mx_host, VALID);
          assert.equal(row.attempts, 2);
          const stored = (await policies(r))["mismatch.test"]!;
          assert.equal(stored.policy_id, "2");
          assert.deepEqual(stored.mx, [VALID]);
          assert.deepEqual(
            fetches.filter((f) => f.domain === "mismatch.test").slice(before),
            [{ domain: "mismatch.test", ok: true }],
            "fetched once more, for the new id",
          );
          assert.ok((await subjects(6)).includes("mismatch.test"));
        });
      }

      await t.step("a restarted relay enforces the stored policy with HTTPS down", async () => {
        // An attacker on the path: the policy server unreachable, the TXT id changed (so a fetch
        // is due), and the MX record pointing at a host without STARTTLS.
        await web.stop();
        zone["_mta-sts.enforce.test"] = { txt: [txt("attack")] };
        zone["enforce.test"] = { mx: [{ preference: 10, exchange: NO_TLS }] };
        const fetchesBefore = fetches.length;

        await using r = await startTestRelay({ ...options, deps: deps() });
        r.io.probe(() => busy.count);
        const restarted = r.clock.now();
        await enqueue(r, { to: ["after-restart@enforce.test"], subject: "after the restart" });
        const mine = async () => (await r.t.db.selectFrom("ferry.deliveries").selectAll()
          .where("recipient", "=", "after-restart@enforce.test").executeTakeFirst());
        await r.pumpUntil(
          async () => (await mine())?.status === "deferred",
          "the deferral",
          250,
          400,
        );
        const row = (await mine())!;
        console.log(`enforce.test after the restart: ${
          JSON.stringify({
            status: row.status,
            last_code: row.last_code,
            last_reply: row.last_reply,
          })
        }`);
        assert.equal(row.last_code, 451);
        assert.equal(
          row.last_reply,
          `451 4.7.5 ${LOCAL} the MTA-STS policy of enforce.test (enforce) lists none of its MX hosts: ${NO_TLS} not in ${VALID}`,
        );
        assert.ok(r.clock.now() - restarted < 60_000, "deferred at once, not after a timeout");
        assert.deepEqual(
          fetches.slice(fetchesBefore).filter((f) => f.domain === "enforce.test"),
          [{ domain: "enforce.test", ok: false }],
          "the new id was fetched for, and the fetch failed",
        );
        const stored = (await policies(r))["enforce.test"]!;
        assert.equal(stored.policy_id, "1", "the stored policy is kept");
        assert.match(
          stored.last_error ?? "",
          /GET https:\/\/mta-sts\.enforce\.test\/\.well-known\/mta-sts\.txt failed/,
        );
        assert.equal(row.mx_host, null, "no host was tried");
        // RFC 8461 §5.1: the blocked refresh is in the log, for the operator.
        const warnings = r.events.flatMap((e) => e.event === "mta_sts.warning" ? [e] : []);
        assert.equal(warnings.length, 1, JSON.stringify(warnings));
        assert.equal(warnings[0]?.domain, "enforce.test");
        assert.equal(warnings[0]?.mode, "enforce");
        assert.match(
          warnings[0]!.warning,
          /^GET https:\/\/mta-sts\.enforce\.test\/\.well-known\/mta-sts\.txt failed: .*; applying the stored policy, valid until 2030-03-08T10:00:0/,
        );
        assert.equal((await subjects(6)).length, 6, "nothing more arrived");
      });

      // Mail for two domains was pointed at the host without STARTTLS; none of it went there.
      for (const line of await plaintextSessions(1)) {
        assert.doesNotMatch(line, /mail=|rcpt=|data=/, line);
      }
    } finally {
      await web.stop();
      console.log(`MTA-STS matrix: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  },
});
