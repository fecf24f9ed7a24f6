/**
 * DKIM for the relay benchmark: keys generated at the start (never stored in the repository),
 * written as PEM files the relay's config names (`dkim[].privateKeyFile`), and a check that a
 * message as a receiver got it carries a signature that verifies (mailauth, with the key's
 * record as the only DNS answer) with the expected algorithm, or carries none.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { generateKeyPairSync } from "node:crypto";
import { dkimVerify } from "mailauth/lib/dkim/verify.js";
import { type DkimAlgorithm, dkimDnsRecord } from "../../relay/dkim/keys.ts";

export const DKIM_DOMAIN = "ferry.test";
export const DKIM_SELECTOR = "bench";

export interface BenchKey {
  readonly algorithm: DkimAlgorithm;
  readonly pem: string;
  /** The `dkim` entry of the relay's config. */
  readonly config: Record<string, unknown>;
}

/** A fresh key (RSA-2048 or Ed25519), its PEM written under `dir`. */
export async function benchKey(algorithm: DkimAlgorithm, dir: string): Promise<BenchKey> {
  const { privateKey } = algorithm === "rsa-sha256"
    ? generateKeyPairSync("rsa", { modulusLength: 2048 })
    : generateKeyPairSync("ed25519");
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const file = `${dir}/dkim-${algorithm}.pem`;
  await Deno.writeTextFile(file, pem, { mode: 0o600 });
  return {
    algorithm,
    pem,
    config: { domain: DKIM_DOMAIN, selector: DKIM_SELECTOR, algorithm, privateKeyFile: file },
  };
}

/**
 * Throws unless `message` (CRLF, as received) is signed by `key` and verifies, or, without a
 * key, carries no DKIM-Signature at all.
 */
export async function assertSignature(message: string, key: BenchKey | undefined): Promise<void> {
  const header = message.slice(0, message.indexOf("\r\n\r\n"));
  const signed = /^DKIM-Signature:/im.test(header);
  if (!key) {
    if (signed) throw new Error("Cannot trust the unsigned drain as its probe was DKIM-signed");
    return;
  }
  const record = dkimDnsRecord(key.pem);
  const result = await dkimVerify(Buffer.from(message, "latin1"), {
    resolver: (name: string) =>
      name === `${DKIM_SELECTOR}._domainkey.${DKIM_DOMAIN}`
        ? Promise.resolve([[record]])
        : Promise.reject(Object.assign(new Error("ENOTFOUND"), { code: "ENOTFOUND" })),
  });
  const pass = result.results.filter((r: { status: { result: string } }) =>
    r.status.result === "pass"
  );
  const algorithms = pass.map((r: { algo?: string }) => r.algo);
  if (pass.length === 0 || !algorithms.includes(key.algorithm)) {
    throw new Error(
      `Cannot trust the ${key.algorithm} drain as its probe did not verify: ` +
        JSON.stringify(result.results.map((r: { status: unknown; algo?: string }) => ({
          algo: r.algo,
          status: r.status,
        }))),
    );
  }
}
