/**
 * The relay end to end, as a process (`deno run -A relay/main.ts` with a config file, as a user
 * runs it), against PostgreSQL at its defaults (durable) and Postfix from Debian:
 *
 * 1. drain: 20,000 pre-queued ~2 KB messages to 200 domains in `ferry.outbox`, delivered by the
 *    relay into Postfix's `smtp-sink` on loopback: messages/s (relay started → the sink counted
 *    the last one), time to ingest, peak RSS, CPU ms per message (relay, PostgreSQL, sink, from
 *    /proc), commits and statements per message (pg_stat_statements).
 * 2. postfix: a private Postfix relaying everything to the same sink; the same backlog injected
 *    while held, then released; time until the sink counted it all. Then the ratio, with the
 *    load average before and after both drains.
 * 3. dkim: the drain again with DKIM signing (Ed25519, then RSA-2048, keys generated at start),
 *    in pairs: an unsigned drain right before each signed one, the cost taken within each pair
 *    and the median over the pairs reported (two drains minutes apart differ by more than the
 *    cost measured); a probe message's signature is verified at a receiver.
 * 4. profile: a separate drain with the inspector on, profiled at its steady state (V8
 *    sampling); its rate is not a headline figure.
 * 5. latency: open loop; a separate process commits one row per transaction at 200/s for 32 s;
 *    commit → 250 at a recording receiver, p50/p99/max over the 6,000 after a 2 s warm-up.
 *
 * Every figure is printed after its assertions held (all delivered exactly once, counts match at
 * the sink). One JSON line per figure, then a human summary (the README's table; see
 * _readme_table.ts). Needs PostgreSQL binaries (or DATABASE_URL) and Postfix (as root).
 *
 * Knobs (environment): FERRY_BENCH_MESSAGES (20000), FERRY_BENCH_DOMAINS (200),
 * FERRY_BENCH_CONNECTIONS (per-domain connections, 2), FERRY_BENCH_PHASES
 * ("drain,postfix,dkim,profile,latency"), FERRY_BENCH_DKIM ("ed25519-sha256,rsa-sha256"),
 * FERRY_BENCH_DKIM_PAIRS (unsigned + signed drain pairs per algorithm, 2),
 * FERRY_BENCH_PROFILE_MESSAGES (10000), FERRY_BENCH_LATENCY_RATE (200),
 * FERRY_BENCH_LATENCY_SECONDS (32), FERRY_BENCH_LATENCY_WARMUP (2, seconds),
 * FERRY_BENCH_RELAY_CONFIG (JSON merged over the relay's config below, e.g.
 * '{"queue":{"notify":true}}'), FERRY_BENCH_DURABILITY ("durable"; "fast" is labelled unsafe).
 *
 * Run: deno run -A tests/bench/relay_bench.ts   (or `deno task bench relay`)
 */
import pg from "pg";
import { composeMessage } from "../../relay/mime/mod.ts";
import type { DkimAlgorithm } from "../../relay/dkim/keys.ts";
import { systemClock } from "../../lib/clock.ts";
import { type CountingSink, hasPostfix, startCountingSink } from "../_peers/postfix_relay.ts";
import { openPgStats } from "./_pg_stats.ts";
import { benchServer, loadAverage, report, reported } from "./_env.ts";
import { freshDatabase } from "./_bench_database.ts";
import { drainFerry, type DrainSetup } from "./_relay_drain.ts";
import { drainPostfix } from "./_postfix_drain.ts";
import { latencyFerry } from "./_relay_latency.ts";
import { benchKey } from "./_dkim_probe.ts";
import { markdownTable } from "./_readme_table.ts";

const env = (k: string, d: string) => Deno.env.get(`FERRY_BENCH_${k}`) ?? d;
const MESSAGES = Number(env("MESSAGES", "20000"));
const DOMAINS = Number(env("DOMAINS", "200"));
const CONNECTIONS = Number(env("CONNECTIONS", "2"));
const PHASES = env("PHASES", "drain,postfix,dkim,profile,latency").split(",");
const DKIM = env("DKIM", "ed25519-sha256,rsa-sha256").split(",").filter(Boolean);
const DKIM_PAIRS = Number(env("DKIM_PAIRS", "2"));
const PROFILE_MESSAGES = Number(env("PROFILE_MESSAGES", "10000"));
const LATENCY_RATE = Number(env("LATENCY_RATE", "200"));
const LATENCY_SECONDS = Number(env("LATENCY_SECONDS", "32"));
const LATENCY_WARMUP = Number(env("LATENCY_WARMUP", "2"));
const EXTRA_CONFIG = JSON.parse(env("RELAY_CONFIG", "{}")) as Record<string, unknown>;
/** What the DKIM drains may cost at most, in percent of the unsigned drain's rate. */
const DKIM_TARGET_COST_PCT: Record<string, number> = { "ed25519-sha256": 10, "rsa-sha256": 40 };

/**
 * The relay's configuration for the runs: every destination may use CONNECTIONS connections
 * from the start (the sink needs no slow start) and enough actors for every domain at once. The
 * one sink stands in for DOMAINS receiving hosts, so the cap per receiving host (meant for a
 * smarthost or an MX many domains share; default 20) is raised to what DOMAINS distinct hosts
 * would allow. The rest (ingestion batch, polling) is the relay's default unless
 * FERRY_BENCH_RELAY_CONFIG says otherwise.
 */
const RELAY_CONFIG = mergeConfig({
  domains: { "*": { maxConnections: CONNECTIONS, initialConnections: CONNECTIONS } },
  delivery: { maxActors: Math.max(2000, DOMAINS), maxConnectionsPerHost: DOMAINS * CONNECTIONS },
}, EXTRA_CONFIG);

// ~2 KB of plain text, in 92-character lines.
const BODY =
  ("The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n")
    .repeat(23);
/** Where the recipient goes in the sample message fed to Postfix. */
const TO_MARK = "\u0000TO\u0000";

if (!hasPostfix) {
  report({ bench: "relay", skipped: "Postfix (smtp-sink) is not installed or not root" });
  Deno.exit(0);
}
if (!Number.isInteger(DKIM_PAIRS) || DKIM_PAIRS < 1) {
  throw new Error(
    `Cannot run the DKIM drains as 'FERRY_BENCH_DKIM_PAIRS' must be a whole number >= 1: current value is ${DKIM_PAIRS}`,
  );
}
for (const a of DKIM) {
  if (!(a in DKIM_TARGET_COST_PCT)) {
    throw new Error(
      `Cannot run the DKIM drains as 'FERRY_BENCH_DKIM' names an unknown algorithm: current value is ${a}`,
    );
  }
}

const server = await benchServer();
const admin = new pg.Client({ connectionString: server.url });
const keyDir = await Deno.makeTempDir({ prefix: "ferry-bench-keys-" });
let sink: CountingSink | undefined;
let failed = false;
try {
  // pg_stat_statements needs a restart to load: only on the benchmark's own cluster.
  await (await openPgStats(server.url, !Deno.env.get("DATABASE_URL"))).close();
  await admin.connect();
  sink = await startCountingSink({ maxConnections: Math.max(1024, 2 * DOMAINS * CONNECTIONS) });
  await run(sink, await composeSample());
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await sink?.stop();
  await admin.end().catch(() => {});
  await server.stop();
  await Deno.remove(keyDir, { recursive: true }).catch(() => {});
}
console.log(`\n${markdownTable(reported())}`);
if (failed) Deno.exit(1);

async function run(sink: CountingSink, sample: string): Promise<void> {
  report({
    bench: "relay",
    phase: "settings",
    knobs: Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([k]) => k.startsWith("FERRY_BENCH_")).sort(),
    ),
    relay_config: RELAY_CONFIG,
  });
  const fresh = (name: string) => freshDatabase(admin, server.url, name);
  const setup: DrainSetup = {
    sink,
    fresh,
    messages: MESSAGES,
    domains: DOMAINS,
    body: BODY,
    sample,
    toMark: TO_MARK,
    relayConfig: RELAY_CONFIG,
  };
  const loadBefore = loadAverage();
  const unsigned = PHASES.includes("drain")
    ? await drainFerry(setup, { label: "unsigned" })
    : undefined;
  const postfix = PHASES.includes("postfix") ? await drainPostfix(setup) : undefined;
  if (unsigned && postfix) {
    report({
      bench: "relay",
      phase: "ratio",
      messages: MESSAGES,
      domains: DOMAINS,
      ferry_per_s: unsigned.rate,
      postfix_per_s: postfix.rate,
      ferry_over_postfix: Number((unsigned.rate / postfix.rate).toFixed(2)),
      target: 3,
      // Less distorted by other tenants than the rates: CPU per message, Postfix over Ferry
      // (relay + PostgreSQL).
      cpu_ms_per_message: { ferry: unsigned.cpuMsPerMessage, postfix: postfix.cpuMsPerMessage },
      postfix_cpu_over_ferry_cpu: Number(
        (postfix.cpuMsPerMessage / unsigned.cpuMsPerMessage).toFixed(2),
      ),
      load_avg_before: loadBefore,
      load_avg_after: loadAverage(),
    });
  }
  if (PHASES.includes("dkim")) {
    for (const algorithm of DKIM as DkimAlgorithm[]) {
      const key = await benchKey(algorithm, keyDir);
      const pairs: DkimPair[] = [];
      for (let i = 1; i <= DKIM_PAIRS; i++) {
        const base = await drainFerry(setup, { label: `unsigned before ${algorithm} ${i}` });
        const signed = await drainFerry(setup, { label: `${algorithm} ${i}`, key });
        pairs.push({
          unsigned_per_s: base.rate,
          signed_per_s: signed.rate,
          relative: signed.rate / base.rate,
          cpu_relative: base.cpuMsPerMessage / signed.cpuMsPerMessage,
        });
      }
      const relative = median(pairs.map((p) => p.relative));
      const cpuRelative = median(pairs.map((p) => p.cpu_relative));
      report({
        bench: "relay",
        phase: "dkim",
        dkim: algorithm,
        key: algorithm === "rsa-sha256" ? "RSA 2048" : "Ed25519",
        messages: MESSAGES,
        messages_per_s: Math.round(median(pairs.map((p) => p.signed_per_s))),
        unsigned_per_s: Math.round(median(pairs.map((p) => p.unsigned_per_s))),
        // The median over the pairs of (signed rate / the unsigned rate just before it).
        relative: Number(relative.toFixed(3)),
        cost_pct: Number((100 * (1 - relative)).toFixed(1)),
        target_cost_pct: DKIM_TARGET_COST_PCT[algorithm],
        // The same cost in CPU (relay + PostgreSQL per message), less distorted by other load.
        cpu_cost_pct: Number((100 * (1 - cpuRelative)).toFixed(1)),
        pairs: pairs.map((p) => ({
          unsigned_per_s: p.unsigned_per_s,
          signed_per_s: p.signed_per_s,
          cost_pct: Number((100 * (1 - p.relative)).toFixed(1)),
          cpu_cost_pct: Number((100 * (1 - p.cpu_relative)).toFixed(1)),
        })),
      });
    }
  }
  if (PHASES.includes("profile")) {
    await drainFerry(setup, { label: "profiled", profile: true, messages: PROFILE_MESSAGES });
  }
  if (PHASES.includes("latency")) {
    await latencyFerry({
      fresh,
      domains: DOMAINS,
      body: BODY,
      relayConfig: RELAY_CONFIG,
      rate: LATENCY_RATE,
      seconds: LATENCY_SECONDS,
      warmupS: LATENCY_WARMUP,
    });
  }
}

interface DkimPair {
  readonly unsigned_per_s: number;
  readonly signed_per_s: number;
  /** Signed rate over the unsigned rate of the same pair. */
  readonly relative: number;
  /** Unsigned CPU per message over signed CPU per message. */
  readonly cpu_relative: number;
}

/** The median of `values` (the mean of the middle two for an even count). */
function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** `extra` over `base`, one level deep per top-level key (e.g. `queue`, `delivery`). */
function mergeConfig(
  base: Record<string, unknown>,
  extra: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    const b = out[k];
    out[k] = b && typeof b === "object" && v && typeof v === "object" && !Array.isArray(v)
      ? { ...b, ...v }
      : v;
  }
  return out;
}

/**
 * One message as Ferry composes it (relay/mime), with the recipient marked, so Postfix is fed the
 * same bytes Ferry sends (only To differs per message).
 */
async function composeSample(): Promise<string> {
  const composed = await composeMessage({
    id: 1,
    from: "Bench <bench@ferry.test>",
    to: ["u1@d1.test"],
    cc: [],
    bcc: [],
    replyTo: null,
    subject: "Bench message 1",
    text: BODY,
    html: null,
    headers: null,
    raw: null,
    createdAt: new Date(),
  }, { messageIdDomain: "relay.test", clock: systemClock });
  if (composed.kind !== "composed") {
    throw new Error(`Cannot compose the sample message: ${composed.reason}`);
  }
  const text = new TextDecoder().decode(composed.message.bytes).replace(/\r\n$/, "");
  return text.replace("u1@d1.test", TO_MARK);
}
