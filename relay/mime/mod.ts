/**
 * Messages: address parsing (address.ts), composition of outbox rows into RFC 5322 messages,
 * stable Message-IDs, and byte-level helpers for raw messages.
 *
 * @module
 */
export {
  type AddressResult,
  type Mailbox,
  parseMailbox,
  toALabel,
  validateAddress,
} from "../../lib/message/address.ts";
export {
  type ComposedMessage,
  composeMessage,
  type ComposeOptions,
  type ComposeResult,
  type OutboxMessage,
} from "./compose.ts";
export { boundaryFor, messageIdFor, type OutboxId } from "./message_id.ts";
export {
  analyseMessage,
  bodyStart,
  headerFields,
  headerText,
  headerValues,
  type MessageNeeds,
} from "./message_bytes.ts";
export { HeaderFieldError, prependHeader, replaceHeader } from "./top_header.ts";
export { canonicalLineEnds } from "./canonical_lines.ts";
export { rawMessageProblem } from "./raw_cleanup.ts";
export { cleanRawMessage } from "./raw_cleanup.ts";
