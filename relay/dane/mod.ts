/**
 * DANE for SMTP (RFC 7672, over RFC 6698 and RFC 7671): which TLSA records apply to an MX host,
 * what they mean for the connection, and the authentication of the server's certificate chain.
 *
 * ```ts ignore
 * // The resolver must report DNSSEC: `new WireResolver({ ..., dnssec: true })`, through a
 * // validating resolver trusted to set the AD bit (loopback by default).
 * const plan = await router.planRoute(domain, signal);
 * if (plan.kind === "hosts") {
 *   for (const host of plan.hosts) {
 *     const dane = await daneForHost(resolver, domain, plan, host, signal);
 *     switch (dane.kind) {
 *       case "defer": // do not use this host now; the next one, or retry later (4.7.5)
 *         break;
 *       case "no-dane": // the relay's other policies (MTA-STS, its own TLS policy)
 *         break;
 *       case "unusable": // TLS required, unauthenticated: policy "required"
 *         break;
 *       case "dane": // TLS required and authenticated with the records:
 *         connectSmtp(address, host.port, {
 *           ...,
 *           tlsPolicy: "verified",
 *           startTls: daneStartTls({
 *             records: dane.records,
 *             referenceNames: dane.referenceNames,
 *             serverName: dane.serverName,
 *             clock,
 *           }),
 *         });
 *     }
 *   }
 * }
 * ```
 *
 * @module
 */
export { daneForHost, type HostDane, type RouteDnssec } from "./host.ts";
export { type DaneDecision, decideDane } from "./decision.ts";
export {
  describeRecord,
  MATCHING,
  type RecordSort,
  SELECTOR,
  type SetAside,
  unusableBecause,
  usableRecords,
  USAGE,
} from "./records.ts";
export { type DaneVerification, verifyDane, type VerifyOptions } from "./verify.ts";
export { DaneMismatchError, daneStartTls, type DaneStartTlsOptions } from "./start_tls.ts";
export { type CertificateFields, certificateFields, CertificateFormatError } from "./der.ts";
export { matchingName, nameMatches } from "./names.ts";
