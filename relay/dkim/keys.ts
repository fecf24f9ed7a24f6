/**
 * DKIM signing keys from the config file: one entry per (domain, selector), checked once at
 * start, and chosen per message by the From domain (RFC 6376 §3.5 d=; DMARC alignment wants
 * d= to be the From domain or a parent of it).
 *
 * @module
 */
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { domainToASCII } from "node:url";

export type DkimAlgorithm = "rsa-sha256" | "ed25519-sha256";

/** One key, as written in the config file. */
export interface DkimKeyConfig {
  /** The signing domain (d=). */
  readonly domain: string;
  /** The selector (s=): the key is published at `{selector}._domainkey.{domain}`. */
  readonly selector: string;
  /** PKCS#8 (or PKCS#1 for RSA) private key in PEM form. */
  readonly privateKey: string;
  readonly algorithm: DkimAlgorithm;
  /** Also sign mail whose From is a subdomain of `domain` (default false: exact match only). */
  readonly subdomains?: boolean;
}

/** A key after checking: the domain in lower-case A-label form. */
export interface DkimKey extends DkimKeyConfig {
  readonly domain: string;
}

/** A key in the config cannot be used; the message names the key and the problem. */
export class DkimConfigError extends Error {
  override readonly name = "DkimConfigError";
  constructor(readonly key: string, readonly detail: string) {
    super(`Cannot use DKIM key ${key} as ${detail}`);
  }
}

const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// RFC 6376 §3.1: a selector is one or more sub-domain labels; underscores are common in practice.
const SELECTOR_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i;
// RFC 8301 §3.2: signers MUST use RSA keys of at least 1024 bits (and SHOULD use 2048).
const MIN_RSA_BITS = 1024;
const KEY_TYPE: Record<DkimAlgorithm, string> = {
  "rsa-sha256": "rsa",
  "ed25519-sha256": "ed25519",
};

/** Checks every key; throws {@link DkimConfigError} for the first that cannot be used. */
export function checkDkimKeys(configs: readonly DkimKeyConfig[]): DkimKey[] {
  const seen = new Set<string>();
  return configs.map((config, i) => {
    const name = `#${i + 1} (${config.selector}._domainkey.${config.domain})`;
    const domain = toDomain(config.domain);
    if (!domain) throw new DkimConfigError(name, `'domain' must be a DNS name`);
    if (!config.selector?.split(".").every((l) => SELECTOR_LABEL.test(l))) {
      throw new DkimConfigError(name, `'selector' must be one or more DNS labels`);
    }
    if (!(config.algorithm in KEY_TYPE)) {
      throw new DkimConfigError(
        name,
        `'algorithm' must be rsa-sha256 or ed25519-sha256: current value is ${
          JSON.stringify(config.algorithm)
        }`,
      );
    }
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: config.privateKey, format: "pem" });
    } catch (err) {
      throw new DkimConfigError(name, `'privateKey' is not a PEM private key: ${String(err)}`);
    }
    if (key.asymmetricKeyType !== KEY_TYPE[config.algorithm]) {
      throw new DkimConfigError(
        name,
        `'privateKey' is a ${key.asymmetricKeyType} key but 'algorithm' is ${config.algorithm}`,
      );
    }
    const bits = key.asymmetricKeyDetails?.modulusLength;
    if (key.asymmetricKeyType === "rsa" && (bits ?? 0) < MIN_RSA_BITS) {
      throw new DkimConfigError(name, `an RSA key must be >= ${MIN_RSA_BITS} bits: it has ${bits}`);
    }
    const id = `${config.selector.toLowerCase()}._domainkey.${domain}`;
    if (seen.has(id)) throw new DkimConfigError(name, `${id} is configured twice`);
    seen.add(id);
    return { ...config, domain };
  });
}

/**
 * The keys to sign a message from `fromDomain` with: every key of the domain itself, else
 * every `subdomains` key of the nearest parent that has one. Several keys (say RSA and
 * Ed25519, as RFC 8463 §4 suggests during the transition) give several signatures.
 */
export function keysForDomain(keys: readonly DkimKey[], fromDomain: string): DkimKey[] {
  const domain = toDomain(fromDomain);
  if (!domain) return [];
  const exact = keys.filter((k) => k.domain === domain);
  if (exact.length > 0) return exact;
  for (let dot = domain.indexOf("."); dot >= 0; dot = domain.indexOf(".", dot + 1)) {
    const parent = domain.slice(dot + 1);
    const found = keys.filter((k) => k.domain === parent && k.subdomains);
    if (found.length > 0) return found;
  }
  return [];
}

/**
 * The TXT record to publish at `{selector}._domainkey.{domain}` for a private key: the
 * SubjectPublicKeyInfo for RSA (RFC 6376 §3.6.1), the raw 32-octet key for Ed25519
 * (RFC 8463 §4.2).
 */
export function dkimDnsRecord(privateKeyPem: string): string {
  const key = createPublicKey(createPrivateKey({ key: privateKeyPem, format: "pem" }));
  const spki = key.export({ type: "spki", format: "der" });
  if (key.asymmetricKeyType === "ed25519") {
    return `v=DKIM1; k=ed25519; p=${spki.subarray(spki.length - 32).toString("base64")}`;
  }
  if (key.asymmetricKeyType === "rsa") return `v=DKIM1; k=rsa; p=${spki.toString("base64")}`;
  throw new RangeError(
    `Cannot make a DKIM record as the key must be rsa or ed25519: it is ${key.asymmetricKeyType}`,
  );
}

function toDomain(raw: string): string | undefined {
  if (typeof raw !== "string") return undefined;
  const name = raw.trim().toLowerCase().replace(/\.$/, "");
  const ascii = /[^\x20-\x7e]/.test(name) ? domainToASCII(name) : name;
  if (!ascii || ascii.length > 253) return undefined;
  return ascii.split(".").every((l) => LDH_LABEL.test(l)) ? ascii : undefined;
}
