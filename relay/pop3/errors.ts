/**
 * Failures of the transport or of the peer's grammar. A server's `-ERR` is not one of these: it
 * is an expected outcome, returned as a {@link Pop3Err} value by the client's commands.
 *
 * @module
 */

/** The peer broke the protocol (a reply that is neither `+OK` nor `-ERR`, an oversized line...). */
export class Pop3ProtocolError extends Error {
  override readonly name = "Pop3ProtocolError";
  constructor(message: string, readonly command: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The stream ended, or was closed, while a reply was awaited. */
export class Pop3ClosedError extends Error {
  override readonly name = "Pop3ClosedError";
  constructor(message: string, readonly command: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The caller used the client wrongly (a command in the wrong state, two at once): a bug. */
export class Pop3StateError extends Error {
  override readonly name = "Pop3StateError";
  constructor(message: string, readonly state: string) {
    super(message);
  }
}
