/**
 * Checks made before a transaction starts, so that a message the peer cannot take is failed
 * permanently without a byte of it being sent: REQUIRETLS over a session that cannot honour it
 * (RFC 8689), invalid addresses, lines over 998 octets, SIZE over the announced limit
 * (RFC 1870), 8-bit content without 8BITMIME (RFC 6152), and UTF-8 without SMTPUTF8 (RFC 6531).
 *
 * @module
 */
import type { Capabilities } from "./capabilities.ts";
import { MAX_LINE_LENGTH, type MessageScan, scanMessage } from "./data_encoder.ts";
import { addressProblem, type Envelope, needsSmtpUtf8 } from "./envelope.ts";
import { type Failure, localPermanent } from "./outcome.ts";

/** The transaction's plan: who to send to, with which MAIL parameters, and who already failed. */
export interface Plan {
  /** Recipients to offer in RCPT TO, in the caller's order. */
  readonly send: readonly string[];
  /** Recipients failed before sending, with why. */
  readonly failed: ReadonlyMap<string, Failure>;
  /** MAIL FROM parameters. */
  readonly params: readonly string[];
  readonly scan: MessageScan;
}

/** What the session's TLS is, for REQUIRETLS. */
export interface SessionSecurity {
  readonly peerName: string;
  readonly tls: boolean;
  readonly tlsVerified: boolean;
}

const UNKNOWN_SECURITY: SessionSecurity = { peerName: "the peer", tls: false, tlsVerified: false };

/**
 * Plans the transaction, or fails it as a whole (every recipient gets the returned failure).
 * Without `security` the session counts as plaintext, so a REQUIRETLS message fails closed.
 */
export function preflight(
  envelope: Envelope,
  caps: Capabilities,
  security: SessionSecurity = UNKNOWN_SECURITY,
): Plan | Failure {
  // First: when REQUIRETLS cannot be honoured nothing else about this peer matters.
  if (envelope.requireTls) {
    const refusal = requireTlsRefusal(caps, security);
    if (refusal) return refusal;
  }
  const senderProblem = addressProblem(envelope.mailFrom, "sender");
  if (senderProblem) return localPermanent("message", 553, "5.1.7", senderProblem);

  const scan = scanMessage(envelope.message);
  if (scan.longLine) {
    return localPermanent(
      "message",
      554,
      "5.6.0",
      `line ${scan.longLine.line} is ${scan.longLine.length} octets long; RFC 5321 §4.5.3.1.6 allows ` +
        `${MAX_LINE_LENGTH}: encode the body (quoted-printable or base64) before sending`,
    );
  }
  if (caps.size !== undefined && caps.size > 0 && scan.size > caps.size) {
    return localPermanent(
      "message",
      552,
      "5.3.4",
      `the message is ${scan.size} octets; the peer's SIZE limit is ${caps.size} (not sent)`,
    );
  }
  const eightBit = envelope.eightBit ?? scan.eightBit;
  if (eightBit && !caps.eightBitMime) {
    return localPermanent(
      "message",
      554,
      "5.6.3",
      "the message has 8-bit content and the peer does not offer 8BITMIME (RFC 6152); " +
        "Ferry does not downgrade: encode the body as quoted-printable or base64",
    );
  }
  // RFC 6531 §3.2: SMTPUTF8 for the whole transaction when the sender or the headers need it;
  // a non-ASCII recipient alone fails only that recipient (§3.7.4.1, 553 5.6.7).
  const messageNeedsUtf8 = envelope.smtputf8 === true || needsSmtpUtf8(envelope.mailFrom) ||
    (envelope.smtputf8 === undefined && scan.eightBitHeaders);
  if (messageNeedsUtf8 && !caps.smtpUtf8) {
    return needsSmtpUtf8(envelope.mailFrom)
      ? localPermanent(
        "message",
        553,
        "5.6.7",
        "the sender address is non-ASCII and the peer does not offer SMTPUTF8",
      )
      : localPermanent(
        "message",
        554,
        "5.6.9",
        "the message has UTF-8 headers and the peer does not offer SMTPUTF8",
      );
  }

  const failed = new Map<string, Failure>();
  const send: string[] = [];
  let utf8 = messageNeedsUtf8;
  for (const recipient of envelope.recipients) {
    const problem = addressProblem(recipient, "recipient");
    if (problem) {
      failed.set(recipient, localPermanent("recipient", 553, "5.1.3", problem));
    } else if (needsSmtpUtf8(recipient) && !caps.smtpUtf8) {
      failed.set(
        recipient,
        localPermanent(
          "recipient",
          553,
          "5.6.7",
          "the recipient address is non-ASCII and the peer does not offer SMTPUTF8",
        ),
      );
    } else {
      utf8 ||= needsSmtpUtf8(recipient);
      send.push(recipient);
    }
  }

  const params: string[] = [];
  if (caps.size !== undefined) params.push(`SIZE=${scan.size}`);
  if (eightBit) params.push("BODY=8BITMIME");
  if (utf8) params.push("SMTPUTF8");
  // RFC 8689 §2: a MAIL FROM parameter without a value; the next hop takes on the requirement.
  if (envelope.requireTls) params.push("REQUIRETLS");
  return { send, failed, params, scan };
}

/**
 * Why a REQUIRETLS message cannot go over this session, or undefined when it can. RFC 8689
 * §4.2.1 lets the message go only once TLS is established with a certificate authenticated for
 * the peer (RFC 6125) and the EHLO reply over TLS announces REQUIRETLS; failing that it
 * must not be sent, and the sender is told with 5.7.10 (no TLS-protected session) or 5.7.30
 * (REQUIRETLS not supported; registered in §7.3 with basic code 550 and the text "REQUIRETLS
 * support required"). Permanent: the message bounces rather than travel with less protection
 * than its sender asked for. The session stays usable for other messages, which §4.2.1 allows.
 */
export function requireTlsRefusal(
  caps: Capabilities,
  security: SessionSecurity,
): Failure | undefined {
  const peer = security.peerName;
  if (!security.tls) {
    return localPermanent(
      "message",
      550,
      "5.7.10",
      `Encryption needed: the message requires TLS (REQUIRETLS, RFC 8689) and the session ` +
        `with ${peer} is not encrypted; not sent`,
    );
  }
  if (!security.tlsVerified) {
    return localPermanent(
      "message",
      550,
      "5.7.10",
      `Encryption needed: the message requires TLS (REQUIRETLS, RFC 8689) and the certificate ` +
        `of ${peer} was not verified (that needs the TLS policy 'verified'); not sent`,
    );
  }
  if (!caps.requireTls) {
    return localPermanent(
      "message",
      550,
      "5.7.30",
      `REQUIRETLS support required: ${peer} does not announce REQUIRETLS (RFC 8689); not sent`,
    );
  }
  return undefined;
}
