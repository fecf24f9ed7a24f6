/**
 * The `CAPA` listing (RFC 2449 §5): one capability per line, a tag followed by arguments.
 *
 * @module
 */

/** Capability tags, upper-cased, mapped to their arguments (`SASL` -> `["PLAIN", "LOGIN"]`). */
export type Pop3Capabilities = ReadonlyMap<string, readonly string[]>;

/** Parses the lines of a `CAPA` multi-line reply. */
export function parseCapabilities(lines: readonly string[]): Pop3Capabilities {
  const caps = new Map<string, readonly string[]>();
  for (const line of lines) {
    const [tag, ...args] = line.trim().split(/\s+/);
    if (tag) caps.set(tag.toUpperCase(), args);
  }
  return caps;
}
