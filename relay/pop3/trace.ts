/**
 * The transcript hook. Credentials never reach it: `PASS` and the `APOP` digest are replaced by
 * `****` before the hook sees the line, and message bodies are summarised, not copied.
 *
 * @module
 */

/** One line of the session transcript. */
export interface Pop3TraceEvent {
  /** `client` for what we sent, `server` for what we received, `info` for local events. */
  readonly direction: "client" | "server" | "info";
  readonly line: string;
}

export type Pop3Trace = (event: Pop3TraceEvent) => void;

/** The command line as it may appear in a transcript. */
export function redactCommand(line: string): string {
  const pass = /^(PASS)\s.*$/i.exec(line);
  if (pass) return `${pass[1]} ****`;
  const apop = /^(APOP\s+\S+)\s.*$/i.exec(line);
  if (apop) return `${apop[1]} ****`;
  return line;
}
