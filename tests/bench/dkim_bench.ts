/**
 * DKIM signing throughput: signatures/s for rsa-sha256 (2048-bit key) and ed25519-sha256 on
 * 2 KB and 50 KB messages, one JSON line per case. Each case runs for about 0.75 s of wall
 * time (after a short warm-up), so the whole benchmark takes a few seconds.
 *
 * Run: deno run -A tests/bench/dkim_bench.ts   (or `deno task bench dkim`)
 */
import { generateKeyPairSync } from "node:crypto";
import { systemClock } from "../../lib/clock.ts";
import { createDkimSigner, type DkimAlgorithm } from "../../relay/dkim/mod.ts";
import { report } from "./_env.ts";

const CASE_MS = 750;
const WARMUP = 20;
const MAX_SIGNATURES = 200_000;

function privateKey(algorithm: DkimAlgorithm): string {
  const pair = algorithm === "rsa-sha256"
    ? generateKeyPairSync("rsa", { modulusLength: 2048 })
    : generateKeyPairSync("ed25519");
  return pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

/** A plain text message of about `size` octets, with 76-character lines. */
function message(size: number): Uint8Array {
  const head = "From: Sender <sender@example.com>\r\nTo: rcpt@example.net\r\n" +
    "Subject: benchmark\r\nDate: Wed, 01 Apr 2026 08:30:00 +0000\r\n" +
    "Message-ID: <bench@example.com>\r\nMIME-Version: 1.0\r\n" +
    "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
  const line = "The quick brown fox jumps over the lazy dog, again and again and again.....\r\n";
  return new TextEncoder().encode(
    head + line.repeat(Math.ceil((size - head.length) / line.length)),
  );
}

for (const algorithm of ["rsa-sha256", "ed25519-sha256"] as const) {
  const { sign } = createDkimSigner({
    keys: [{
      domain: "example.com",
      selector: "bench",
      privateKey: privateKey(algorithm),
      algorithm,
    }],
    clock: systemClock,
  });
  for (const size of [2 * 1024, 50 * 1024]) {
    const input = message(size);
    for (let i = 0; i < WARMUP; i++) await sign(input);
    let count = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < CASE_MS && count < MAX_SIGNATURES) {
      const result = await sign(input);
      if (result.kind !== "signed") {
        throw new Error(`Cannot benchmark as signing failed: ${result.kind}`);
      }
      count++;
      elapsed = performance.now() - start;
    }
    report({
      bench: "dkim_sign",
      algorithm,
      message_bytes: input.length,
      signatures: count,
      seconds: Number((elapsed / 1000).toFixed(3)),
      signatures_per_second: Math.round(count / (elapsed / 1000)),
    });
  }
}
