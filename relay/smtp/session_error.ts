/**
 * The one exception the SMTP client uses internally: the connection is no longer usable. It
 * carries the classified {@link Failure} (always connection scope) and is turned into outcome
 * values at the public boundary, so callers never see it thrown.
 *
 * @module
 */
import { describeOutcome, type Failure, localTransient } from "./outcome.ts";
import type { Phase } from "./timeouts.ts";

/** The session broke; `failure` says how, for every recipient still pending. */
export class SessionBrokenError extends Error {
  override readonly name = "SessionBrokenError";
  constructor(readonly failure: Failure, options?: { cause?: unknown }) {
    super(describeOutcome(failure), options);
  }
}

// RFC 3463: X.4.2 "Bad connection", X.4.1 "No answer from host", X.5.0 protocol status.

/** The peer did not answer within the phase's timeout. */
export function timedOut(phase: Phase, ms: number): SessionBrokenError {
  return new SessionBrokenError(
    localTransient("connection", 451, "4.4.2", `timed out after ${ms} ms in phase '${phase}'`),
  );
}

/** The peer closed the connection. */
export function closedByPeer(phase: Phase): SessionBrokenError {
  return new SessionBrokenError(
    localTransient("connection", 451, "4.4.2", `connection closed by the peer in phase '${phase}'`),
  );
}

/** Ferry closed the connection (after another failure, or on request) during an operation. */
export function closedLocally(phase: Phase): SessionBrokenError {
  return new SessionBrokenError(
    localTransient("connection", 451, "4.4.2", `connection closed by Ferry in phase '${phase}'`),
  );
}

/** Reading or writing failed (reset, broken pipe...). */
export function ioFailed(phase: Phase, cause: unknown): SessionBrokenError {
  const why = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  return new SessionBrokenError(
    localTransient("connection", 451, "4.4.2", `connection failed in phase '${phase}': ${why}`),
    { cause },
  );
}

/** The peer sent something that is not an SMTP reply. */
export function protocolError(phase: Phase, reason: string, line: string): SessionBrokenError {
  return new SessionBrokenError(
    localTransient(
      "connection",
      451,
      "4.5.0",
      `protocol error in phase '${phase}': ${reason}: ${JSON.stringify(line)}`,
    ),
  );
}
