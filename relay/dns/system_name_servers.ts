/**
 * The system's recursive name servers, from resolv.conf(5), for {@link WireResolver}.
 *
 * @module
 */
import { isIP } from "node:net";
import type { NameServer } from "./resolver.ts";

/** What glibc uses when resolv.conf names no server. */
const FALLBACK: readonly NameServer[] = [{ ipAddr: "127.0.0.1", port: 53 }];

/** The `nameserver` lines of a resolv.conf text, in order; malformed lines are skipped. */
export function parseResolvConf(text: string): NameServer[] {
  const servers: NameServer[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/[#;].*$/, "").trim();
    const [keyword, address] = line.split(/\s+/);
    if (keyword === "nameserver" && address && isIP(address) !== 0) {
      servers.push({ ipAddr: address, port: 53 });
    }
  }
  return servers;
}

/** Reads resolv.conf; falls back to 127.0.0.1:53 when it is missing or names no server. */
export async function loadSystemNameServers(
  path = "/etc/resolv.conf",
): Promise<readonly NameServer[]> {
  try {
    const servers = parseResolvConf(await Deno.readTextFile(path));
    return servers.length > 0 ? servers : FALLBACK;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return FALLBACK;
    throw err;
  }
}
