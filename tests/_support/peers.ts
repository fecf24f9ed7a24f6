/**
 * Test peers (PostgreSQL server, Postfix, Dovecot, Chromium, DKIM verifiers) may be missing on a
 * developer's laptop: their tests are then ignored, and Deno lists them by name. In CI
 * (`CI=true`) nothing may be ignored: a test whose peer is missing runs and fails, so a failed
 * install can never turn into a green run.
 *
 * ```ts ignore
 * Deno.test({ name: "...", ignore: requirePeer("postfix", !postfixBin), fn });
 * ```
 *
 * @module
 */

const inCi = /^(1|true|yes)$/i.test(Deno.env.get("CI") ?? "");

/** The `ignore` flag for a test that needs `peer`: true only off CI when the peer is missing. */
export function requirePeer(_peer: string, missing: boolean): boolean {
  return missing && !inCi;
}
