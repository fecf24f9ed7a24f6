/**
 * POP3 client (RFC 1939) with CAPA (RFC 2449), STLS (RFC 2595), POP3 over TLS and APOP.
 *
 * ```ts ignore
 * const opened = await openPop3({ host, port: 995, tls: "implicit" }, { clock: systemClock });
 * if (opened.kind !== "ok") throw new Error(opened.kind === "err" ? opened.text : opened.reason);
 * const client = opened.value;
 * await client.login("bounces", password);
 * const list = await client.uidl();
 * ```
 *
 * @module
 */
export { apopDigest, apopTimestamp } from "./apop.ts";
export { parseCapabilities, type Pop3Capabilities } from "./capabilities.ts";
export {
  type ListEntry,
  type MaildropStat,
  Pop3Client,
  type Pop3ClientOptions,
  type Pop3State,
  type UidlEntry,
} from "./client.ts";
export { Pop3ClosedError, Pop3ProtocolError, Pop3StateError } from "./errors.ts";
export { LineReader, type MultilineBody } from "./line_reader.ts";
export { openPop3, type OpenPop3Options, type Pop3Endpoint, type Pop3TlsMode } from "./open.ts";
export {
  errOf,
  parseStatusLine,
  type Pop3Err,
  type Pop3Ok,
  type Pop3Refused,
  type Pop3Result,
  type StatusLine,
} from "./reply.ts";
export { type Pop3Trace, type Pop3TraceEvent, redactCommand } from "./trace.ts";
export type { Pop3Conn, StartTls } from "./transport.ts";
