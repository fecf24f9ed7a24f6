/**
 * DKIM signing (RFC 6376) with keys per sender domain: rsa-sha256 and ed25519-sha256
 * (RFC 8463), relaxed/relaxed, From oversigned.
 *
 * @module
 */
export {
  createDkimSigner,
  type DkimSignature,
  type DkimSigner,
  type DkimSignerOptions,
  type DkimSignResult,
} from "./signer.ts";
export {
  checkDkimKeys,
  type DkimAlgorithm,
  DkimConfigError,
  dkimDnsRecord,
  type DkimKey,
  type DkimKeyConfig,
  keysForDomain,
} from "./keys.ts";
export { DEFAULT_OVERSIGNED_HEADERS, DEFAULT_SIGNED_HEADERS } from "./header_list.ts";
