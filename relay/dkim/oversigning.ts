/**
 * mailauth's DKIM signer (relaxed/relaxed canonicalisation, rsa-sha256 and ed25519-sha256),
 * extended with oversigning, which mailauth's public `dkimSign()` cannot do.
 *
 * Oversigning (RFC 6376 §8.15) lists a field name in h= once more than the message has that
 * field, so a field added later (a second From, say) breaks the signature. A verifier that
 * runs out of instances hashes nothing for the extra name (RFC 6376 §5.4.2), so only the h=
 * tag changes: the extra name is appended to the cased name of the topmost instance of that
 * field (the last one mailauth lists, as it walks the header bottom-up), or of the topmost From
 * for a field the message does not have. This relies on mailauth's `messageHeaders()` hook and
 * on it building h= from `casedKey`; tests verify every signature with mailauth's verifier and
 * check that an added From fails, so an upgrade that changes this is caught.
 *
 * @module
 */
import { Buffer } from "node:buffer";
// @ts-types="./mailauth_signer.d.ts"
import { DkimSigner } from "mailauth/lib/dkim/dkim-signer.js";
import type { ParsedHeaders, SignatureData } from "./mailauth_signer.d.ts";

export interface SignRequest {
  readonly signatures: readonly SignatureData[];
  /** Field names to sign, lower-case. */
  readonly headerList: readonly string[];
  /** Field names to sign once more than they occur, lower-case; a subset of `headerList`. */
  readonly oversign: readonly string[];
  readonly signTime: Date;
  readonly expires?: Date;
}

export interface SignOutcome {
  /** Complete DKIM-Signature fields, folded, without the final CRLF. */
  readonly headers: readonly string[];
  readonly errors: readonly string[];
}

class OversigningSigner extends DkimSigner {
  readonly #oversign: readonly string[];

  constructor(request: SignRequest) {
    super({
      canonicalization: "relaxed/relaxed",
      signTime: request.signTime,
      expires: request.expires,
      headerList: [...request.headerList],
      signatureData: request.signatures.map((s) => ({ ...s })),
      strict: true,
    });
    this.#oversign = request.oversign;
  }

  override async messageHeaders(headers: ParsedHeaders): Promise<void> {
    const from = headers.parsed.find((h) => h.key === "from");
    for (const name of this.#oversign) {
      const target = headers.parsed.find((h) => h.key === name) ?? from;
      if (target) target.casedKey = `${target.casedKey}: ${canonicalCase(name)}`;
    }
    await super.messageHeaders(headers);
  }
}

/** Computes the DKIM-Signature fields for a message (which is not modified). */
export function signatureHeaders(message: Uint8Array, request: SignRequest): Promise<SignOutcome> {
  const signer = new OversigningSigner(request);
  return new Promise((resolve, reject) => {
    signer.once("error", reject);
    signer.once("finish", () => {
      resolve({
        headers: signer.signatureHeaders,
        errors: signer.errors.map((e) =>
          `${e.selector}._domainkey.${e.signingDomain}: ${e.err.message}`
        ),
      });
    });
    signer.end(Buffer.from(message.buffer, message.byteOffset, message.byteLength));
  });
}

/** `list-unsubscribe` -> `List-Unsubscribe`, for a readable h= tag. */
function canonicalCase(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}
