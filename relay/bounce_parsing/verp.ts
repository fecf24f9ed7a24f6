/**
 * VERP return paths (Variable Envelope Return Path): each delivery's envelope sender carries its
 * id, so a bounce sent back to that address names exactly one delivery.
 *
 * Form: `<prefix>+<id>-<tag>@<domain>`, e.g. `bounces+4711-3f9a0c21d7@bounce.example.com`, where
 * `tag` is HMAC-SHA256(secret, id) truncated to {@link VERP_TAG_LENGTH} hex digits. The tag
 * makes the address tamper-evident: a forged or mistyped id fails verification instead of
 * bouncing somebody else's delivery.
 *
 * Ids are lower-case letters and digits only, and the tag is lower-case hex: MTAs that fold the
 * local part's case (RFC 5321 §2.4 allows them to) do not break it.
 *
 * @module
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** What both sides of VERP need to agree on. */
export interface VerpKey {
  /** Local-part prefix before the `+`, e.g. `bounces`. */
  readonly prefix: string;
  /** The bounce domain, whose MX delivers to the bounce mailbox. */
  readonly domain: string;
  /** HMAC secret. Rotating it invalidates the return paths of mail still in flight. */
  readonly secret: string;
}

/** Hex digits of the HMAC kept in the address: 40 bits, far beyond guessing by bounce. */
export const VERP_TAG_LENGTH = 10;

const ID = /^[0-9a-z]{1,40}$/;

/** The envelope sender for delivery `id`. Throws a RangeError for an id VERP cannot carry. */
export function encodeVerp(id: string | bigint | number, key: VerpKey): string {
  const text = String(id);
  if (!ID.test(text)) {
    throw new RangeError(
      `Cannot encode a VERP address as the id must match ${ID}: current value is '${text}'`,
    );
  }
  return `${key.prefix}+${text}-${tag(text, key.secret)}@${key.domain}`;
}

/**
 * The delivery id carried by `address`, or `undefined` when it is not one of ours (another
 * prefix or domain) or its tag does not verify. Accepts `<...>` brackets and any case.
 */
export function decodeVerp(address: string, key: VerpKey): string | undefined {
  const bare = address.trim().replace(/^<|>$/g, "").toLowerCase();
  const at = bare.lastIndexOf("@");
  if (at < 0 || bare.slice(at + 1) !== key.domain.toLowerCase()) return undefined;
  const local = bare.slice(0, at);
  const prefix = `${key.prefix.toLowerCase()}+`;
  if (!local.startsWith(prefix)) return undefined;
  const rest = local.slice(prefix.length);
  const dash = rest.lastIndexOf("-");
  const id = rest.slice(0, dash);
  const given = rest.slice(dash + 1);
  if (dash < 0 || !ID.test(id) || !/^[0-9a-f]+$/.test(given)) return undefined;
  const expected = tag(id, key.secret);
  if (given.length !== expected.length) return undefined;
  return timingSafeEqual(new TextEncoder().encode(given), new TextEncoder().encode(expected))
    ? id
    : undefined;
}

function tag(id: string, secret: string): string {
  return createHmac("sha256", secret).update(id, "utf8").digest("hex").slice(0, VERP_TAG_LENGTH);
}
