/**
 * Whose AD bit to believe. The bit travels in the clear and unsigned, so a stub resolver may
 * trust it only from a validating resolver it trusts, over a path it trusts (RFC 4035 §4.9.3,
 * RFC 7672 §2.1.3): by default, one on this host.
 *
 * @module
 */
import { isIP } from "node:net";
import type { NameServer } from "./resolver.ts";

/** The operator's `trustAd` if given; otherwise whether the server is on a loopback address. */
export function trustsAd(server: NameServer): boolean {
  return server.trustAd ?? isLoopback(server.ipAddr);
}

/** 127.0.0.0/8, ::1, and 127.0.0.0/8 written as an IPv4-mapped IPv6 address. */
export function isLoopback(ip: string): boolean {
  switch (isIP(ip)) {
    case 4:
      return ip.split(".")[0] === "127";
    case 6: {
      // The URL parser gives the RFC 5952 form: "::1", and "::ffff:7f00:1" for ::ffff:127.0.0.1.
      const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
      return canonical === "::1" || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(canonical);
    }
    default:
      return false;
  }
}
