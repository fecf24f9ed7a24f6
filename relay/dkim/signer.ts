/**
 * DKIM signing (RFC 6376, relaxed/relaxed; rsa-sha256 and ed25519-sha256, RFC 8463) of
 * complete messages, composed or raw. The key is chosen by the From domain; the signature
 * fields are put at the top of the message, which is otherwise copied byte for byte.
 *
 * Pure apart from the injected clock, which gives the t= tag (and x=, when signatures expire).
 * Bare LFs are signed as the CRLFs the SMTP layer will turn them into.
 *
 * @module
 */
import addressparser from "nodemailer/lib/addressparser/index.js";
import type { Clock } from "../../lib/clock.ts";
import { headerValues } from "../mime/mod.ts";
import { DEFAULT_OVERSIGNED_HEADERS, DEFAULT_SIGNED_HEADERS } from "./header_list.ts";
import { checkDkimKeys, type DkimAlgorithm, type DkimKeyConfig, keysForDomain } from "./keys.ts";
import { signatureHeaders } from "./sign_headers.ts";

export interface DkimSignerOptions {
  readonly keys: readonly DkimKeyConfig[];
  readonly clock: Clock;
  /** Field names to sign when present (default {@link DEFAULT_SIGNED_HEADERS}). Must hold From. */
  readonly headers?: readonly string[];
  /** Field names to sign one extra time (default: From). Each must be in `headers`. */
  readonly oversign?: readonly string[];
  /** Adds x= this many seconds after t= (RFC 6376 §3.5). Default: signatures do not expire. */
  readonly expireAfterSeconds?: number;
}

export interface DkimSignature {
  readonly domain: string;
  readonly selector: string;
  readonly algorithm: DkimAlgorithm;
}

export type DkimSignResult =
  /** `message` starts with one DKIM-Signature field per key used. */
  | {
    readonly kind: "signed";
    readonly message: Uint8Array;
    readonly signatures: readonly DkimSignature[];
  }
  /** No key applies (or the From domain is unreadable): `message` is the input, unchanged. */
  | { readonly kind: "unsigned"; readonly message: Uint8Array; readonly reason: string }
  /** A key applies but signing failed: `message` is the input; the caller decides. */
  | { readonly kind: "failed"; readonly message: Uint8Array; readonly reason: string };

export interface DkimSigner {
  /** Signs one message. A plain function: `const { sign } = createDkimSigner(...)` works. */
  readonly sign: (message: Uint8Array) => Promise<DkimSignResult>;
}

const encoder = new TextEncoder();

/**
 * Checks the keys and header lists once (throwing DkimConfigError or RangeError, as a bad
 * config must stop the relay at start) and returns the signer.
 */
export function createDkimSigner(options: DkimSignerOptions): DkimSigner {
  const keys = checkDkimKeys(options.keys);
  const headerList = (options.headers ?? DEFAULT_SIGNED_HEADERS).map((h) => h.toLowerCase());
  const oversign = (options.oversign ?? DEFAULT_OVERSIGNED_HEADERS).map((h) => h.toLowerCase());
  if (!headerList.includes("from")) {
    // RFC 6376 §5.4: "The From header field MUST be signed".
    throw new RangeError("Cannot sign DKIM as 'headers' must include From (RFC 6376 §5.4)");
  }
  const stray = oversign.filter((h) => !headerList.includes(h));
  if (stray.length > 0) {
    throw new RangeError(
      `Cannot sign DKIM as every 'oversign' field must also be in 'headers': ${stray.join(", ")}`,
    );
  }
  const expireAfter = options.expireAfterSeconds;
  if (expireAfter !== undefined && !(expireAfter > 0)) {
    throw new RangeError(
      `Cannot sign DKIM as 'expireAfterSeconds' must be > 0: current value is ${expireAfter}`,
    );
  }

  const sign = async (message: Uint8Array): Promise<DkimSignResult> => {
    const from = fromDomain(message);
    if (typeof from !== "string") return { kind: "unsigned", message, reason: from.reason };
    const chosen = keysForDomain(keys, from);
    if (chosen.length === 0) {
      return { kind: "unsigned", message, reason: `no DKIM key for ${from}` };
    }
    const now = options.clock.now();
    const outcome = await signatureHeaders(message, {
      signatures: chosen.map((k) => ({
        signingDomain: k.domain,
        selector: k.selector,
        privateKey: k.privateKey,
        algorithm: k.algorithm,
      })),
      headerList,
      oversign,
      signTime: new Date(now),
      expires: expireAfter === undefined ? undefined : new Date(now + expireAfter * 1000),
    });
    if (outcome.errors.length > 0 || outcome.headers.length !== chosen.length) {
      return { kind: "failed", message, reason: outcome.errors.join("; ") || "no signature made" };
    }
    const head = encoder.encode(outcome.headers.map((h) => `${h}\r\n`).join(""));
    const signed = new Uint8Array(head.length + message.length);
    signed.set(head, 0);
    signed.set(message, head.length);
    const signatures = chosen.map((k) => ({
      domain: k.domain,
      selector: k.selector,
      algorithm: k.algorithm,
    }));
    return { kind: "signed", message: signed, signatures };
  };
  return { sign };
}

/** The domain of the (first) From address, or why there is none. */
function fromDomain(message: Uint8Array): string | { reason: string } {
  const fields = headerValues(message, "from");
  if (fields.length === 0) return { reason: "the message has no From field" };
  // The field may hold UTF-8 (RFC 6532): decode the byte-preserving string as UTF-8.
  const raw = fields[0]!;
  const value = /[\u0080-\uffff]/.test(raw)
    ? new TextDecoder().decode(Uint8Array.from(raw, (c) => c.charCodeAt(0)))
    : raw;
  const parsed = addressparser(value, { flatten: true }) as { address?: string }[];
  const address = parsed.find((a) => a.address)?.address ?? "";
  const at = address.lastIndexOf("@");
  if (at < 0) return { reason: `the From field has no address: ${JSON.stringify(value)}` };
  return address.slice(at + 1).toLowerCase();
}
