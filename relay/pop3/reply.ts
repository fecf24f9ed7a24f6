/**
 * POP3 status lines and the result values commands return.
 *
 * RFC 1939 §3: a reply starts with `+OK` or `-ERR`, then optional text. RFC 2449 §8 adds an
 * optional response code in brackets after `-ERR` (`-ERR [IN-USE] mailbox locked`), which tells
 * a permanent failure (`AUTH`) from a temporary one (`IN-USE`, `LOGIN-DELAY`, `SYS/TEMP`).
 *
 * @module
 */

/** A command the server refused with `-ERR`. An expected outcome, not an exception. */
export interface Pop3Err {
  readonly kind: "err";
  /** The verb that was refused (`PASS`, `RETR`...), or `greeting`. */
  readonly command: string;
  /** The text after `-ERR`, response code included. */
  readonly text: string;
  /** The RFC 2449 response code, upper-cased (`IN-USE`, `AUTH`, `SYS/TEMP`...), when present. */
  readonly code?: string;
}

/** A command the client refused to send, e.g. a password over a plaintext connection. */
export interface Pop3Refused {
  readonly kind: "refused";
  readonly command: string;
  readonly reason: string;
}

/** The server accepted the command; `value` is what its reply carried. */
export interface Pop3Ok<T> {
  readonly kind: "ok";
  readonly value: T;
  /** The text after `+OK`. */
  readonly text: string;
}

export type Pop3Result<T> = Pop3Ok<T> | Pop3Err;

/** A parsed status line. */
export type StatusLine =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly text: string; readonly code?: string };

const RESPONSE_CODE = /^\[([^\]\s]+)\]/;

/** Parses `+OK ...` / `-ERR ...`; `undefined` when the line is neither (a protocol error). */
export function parseStatusLine(line: string): StatusLine | undefined {
  const ok = /^\+OK(?:[ \t](.*))?$/i.exec(line);
  if (ok) return { ok: true, text: ok[1] ?? "" };
  const err = /^-ERR(?:[ \t](.*))?$/i.exec(line);
  if (!err) return undefined;
  const text = err[1] ?? "";
  const code = RESPONSE_CODE.exec(text)?.[1]?.toUpperCase();
  return code === undefined ? { ok: false, text } : { ok: false, text, code };
}

/** Builds the `-ERR` value for `command` from a parsed status line. */
export function errOf(command: string, status: StatusLine): Pop3Err {
  const code = status.ok ? undefined : status.code;
  return code === undefined
    ? { kind: "err", command, text: status.text }
    : { kind: "err", command, text: status.text, code };
}
