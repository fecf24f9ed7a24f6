/**
 * SMTP client throughput into Postfix's `smtp-sink` on loopback: messages/s over one reused
 * pipelined connection and over 8 parallel connections, for 2 KB and 50 KB messages, with
 * Postfix's own `smtp-source` against the same sink in the same run as the reference rate.
 * One JSON line per case; `ratio` is Ferry's rate over smtp-source's (the goal is >= 0.5).
 *
 * Each Ferry case runs for about CASE_MS of wall time; smtp-source then sends as many messages
 * as Ferry did (capped), so the whole benchmark takes well under a minute.
 *
 * Variants: without DKIM, and signed with rsa-sha256 (2048-bit) and ed25519-sha256 keys made at
 * start; signing runs once per message inside the timed loop, as it would in the relay.
 *
 * Run: deno run -A tests/bench/smtp_bench.ts   (or `deno task bench smtp`)
 *
 * To iterate on one case, filter with comma-separated lists (default: everything):
 * `SMTP_BENCH_CASES=8-2k,1-50k` (connections-size) and `SMTP_BENCH_VARIANTS=no-dkim`.
 */
import { systemClock } from "../../lib/clock.ts";
import { connectSmtp, type SmtpSession } from "../../relay/smtp/mod.ts";
import { hasPostfix, smtpSourceRate, startSmtpSink } from "../_peers/postfix.ts";
import { report } from "./_env.ts";
import { createDkimSigner } from "../../relay/dkim/mod.ts";
import { generateKeyPairSync } from "node:crypto";

const CASE_MS = 2_500;
const MAX_MESSAGES = 200_000;
const MAX_REFERENCE_MESSAGES = 50_000;

/** A way of preparing each message before it is sent (e.g. DKIM signing). */
export interface Variant {
  readonly name: string;
  readonly sign?: (message: Uint8Array) => Promise<Uint8Array>;
}

function dkimVariant(algorithm: "rsa-sha256" | "ed25519-sha256"): Variant {
  const { privateKey } = algorithm === "rsa-sha256"
    ? generateKeyPairSync("rsa", { modulusLength: 2048 })
    : generateKeyPairSync("ed25519");
  const signer = createDkimSigner({
    keys: [{
      domain: "ferry.test",
      selector: "bench",
      algorithm,
      privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    }],
    clock: systemClock,
  });
  return { name: `dkim-${algorithm}`, sign: async (m) => (await signer.sign(m)).message };
}

/** A comma-separated filter from the environment; `undefined` selects everything. */
function selection(name: string): Set<string> | undefined {
  const value = Deno.env.get(name)?.trim();
  return value ? new Set(value.split(",").map((s) => s.trim())) : undefined;
}

const caseFilter = selection("SMTP_BENCH_CASES");
const variantFilter = selection("SMTP_BENCH_VARIANTS");
const selected = (filter: Set<string> | undefined, name: string) => !filter || filter.has(name);

// Key generation is slow for RSA: only build the variants that will run.
const variants: Variant[] = [
  { name: "no-dkim" },
  ...(selected(variantFilter, "dkim-rsa-sha256") ? [dkimVariant("rsa-sha256")] : []),
  ...(selected(variantFilter, "dkim-ed25519-sha256") ? [dkimVariant("ed25519-sha256")] : []),
].filter((v) => selected(variantFilter, v.name));

/** A plain-text message of `size` octets with 76-character lines. */
function message(size: number): Uint8Array {
  const head = "From: bench@ferry.test\r\nTo: sink@mx.test\r\nSubject: benchmark\r\n" +
    "Message-ID: <bench@ferry.test>\r\nMIME-Version: 1.0\r\n" +
    "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
  const line = "The quick brown fox jumps over the lazy dog, again and again and again.....\r\n";
  const text = head + line.repeat(Math.ceil((size - head.length) / line.length));
  return new TextEncoder().encode(text.slice(0, size - 2) + "\r\n");
}

async function open(port: number): Promise<SmtpSession> {
  const opened = await connectSmtp("127.0.0.1", port, {
    clock: systemClock,
    heloName: "bench.ferry.test",
    peerName: "sink.test",
  });
  if (opened.kind !== "ready") throw new Error(`Cannot open a session: ${opened.failure.text}`);
  return opened.session;
}

/** Sends until the deadline on `connections` parallel sessions; returns messages and seconds. */
async function ferryRun(
  port: number,
  connections: number,
  msg: Uint8Array,
  variant: Variant,
): Promise<{ messages: number; seconds: number }> {
  const sessions = await Promise.all(Array.from({ length: connections }, () => open(port)));
  let sent = 0;
  const started = performance.now();
  const deadline = started + CASE_MS;
  await Promise.all(sessions.map(async (session) => {
    while (performance.now() < deadline && sent < MAX_MESSAGES) {
      const message = variant.sign ? await variant.sign(msg) : msg;
      const [result] = await session.send({
        mailFrom: "bench@ferry.test",
        recipients: ["sink@mx.test"],
        message,
      });
      if (result?.outcome.kind !== "delivered") {
        throw new Error(`Cannot send: ${JSON.stringify(result)}`);
      }
      sent++;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(sessions.map((s) => s.quit()));
  return { messages: sent, seconds };
}

if (!hasPostfix) {
  report({ bench: "smtp", skipped: "postfix (smtp-sink, smtp-source) is not installed" });
  Deno.exit(0);
}

await using sink = await startSmtpSink();
for (const size of [2 * 1024, 50 * 1024]) {
  const msg = message(size);
  for (const connections of [1, 8]) {
    if (!selected(caseFilter, `${connections}-${size / 1024}k`)) continue;
    for (const variant of variants) {
      // Warm-up: JIT and connection set-up outside the measurement.
      await ferryRun(sink.port, connections, msg, { ...variant, name: "warm-up" }).catch(() =>
        undefined
      );
      const ferry = await ferryRun(sink.port, connections, msg, variant);
      const rate = ferry.messages / ferry.seconds;
      // smtp-source's -l is the body length; its few header lines make up the rest.
      const reference = await smtpSourceRate(sink.port, {
        messages: Math.min(ferry.messages, MAX_REFERENCE_MESSAGES),
        size,
        sessions: connections,
      });
      report({
        bench: "smtp",
        case: connections === 1 ? "1-connection-pipelined" : `${connections}-connections`,
        variant: variant.name,
        message_octets: msg.length,
        messages: ferry.messages,
        seconds: Number(ferry.seconds.toFixed(3)),
        rate: Math.round(rate),
        smtp_source_rate: Math.round(reference),
        ratio: Number((rate / reference).toFixed(2)),
      });
    }
  }
}
