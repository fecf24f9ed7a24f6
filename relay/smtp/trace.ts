/**
 * The transcript hook: every command line sent and every reply line received, for debugging.
 * AUTH arguments and responses are redacted before they reach the hook (RFC 4954 §4 exchanges
 * carry credentials in base64, which is not protection). Message content is summarised, not
 * traced line by line.
 *
 * @module
 */

/** One transcript entry. `note` entries are Ferry's own remarks (TLS, body size...). */
export interface TraceEvent {
  readonly direction: "out" | "in" | "note";
  readonly line: string;
  /** Time on the session's clock. */
  readonly at: number;
}

/** Receives transcript entries; must not throw (a throwing hook is ignored). */
export type TraceHook = (event: TraceEvent) => void;

/** The placeholder for redacted credentials. */
export const REDACTED = "<redacted>";
