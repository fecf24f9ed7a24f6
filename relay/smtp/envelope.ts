/**
 * Envelope addresses on the command line: MAIL FROM and RCPT TO (RFC 5321 §4.1.2). The client
 * trusts no caller: a CR, LF or angle bracket in an address would let it inject commands, so such
 * an address never reaches the wire.
 *
 * @module
 */

/** What `send()` needs for one transaction. */
export interface Envelope {
  /** The reverse-path; `""` for the null sender of a bounce (`MAIL FROM:<>`, RFC 5321 §4.5.5). */
  readonly mailFrom: string;
  /** One or more forward-paths at the same destination; each gets its own outcome. */
  readonly recipients: readonly string[];
  /** The complete RFC 5322 message. Line endings are normalised on the wire. */
  readonly message: Uint8Array;
  /**
   * Force SMTPUTF8 (RFC 6531) on (`true`), or let the client decide (`undefined`: needed when an
   * address is non-ASCII or the header section has 8-bit octets). Non-ASCII addresses need it
   * whatever this says.
   */
  readonly smtputf8?: boolean;
  /** Declare BODY=8BITMIME (RFC 6152); `undefined` detects 8-bit octets in the message. */
  readonly eightBit?: boolean;
  /**
   * REQUIRETLS (RFC 8689): send only over a TLS session whose certificate was verified, to a
   * peer that announced REQUIRETLS after STARTTLS, with `REQUIRETLS` on MAIL FROM; otherwise the
   * message fails permanently without a byte of it sent (§4.2.1). Never downgraded.
   */
  readonly requireTls?: boolean;
}

// RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets.
const MAX_ADDRESS_OCTETS = 254;
// Controls (incl. CR, LF, NUL), brackets and spaces outside quotes cannot appear in a Mailbox.
// deno-lint-ignore no-control-regex -- control characters are exactly what must be caught
const FORBIDDEN = /[\u0000-\u001f\u007f<>]/;
const encoder = new TextEncoder();

/** Why `address` cannot be sent, or `undefined` when it can. `""` is allowed only as sender. */
export function addressProblem(address: string, role: "sender" | "recipient"): string | undefined {
  if (address === "") return role === "sender" ? undefined : "the recipient address is empty";
  if (FORBIDDEN.test(address)) {
    return `the ${role} address ${
      JSON.stringify(address)
    } contains a control character or angle bracket`;
  }
  const at = address.lastIndexOf("@");
  if (at <= 0 || at === address.length - 1) {
    return `the ${role} address ${JSON.stringify(address)} is not of the form local@domain`;
  }
  if (/\s/.test(address) && !address.startsWith('"')) {
    return `the ${role} address ${JSON.stringify(address)} contains white space outside quotes`;
  }
  const octets = encoder.encode(address).length;
  if (octets > MAX_ADDRESS_OCTETS) {
    return `the ${role} address is ${octets} octets long; RFC 5321 §4.5.3.1.3 allows ${MAX_ADDRESS_OCTETS}`;
  }
  return undefined;
}

/** Whether the address has non-ASCII characters, which only SMTPUTF8 allows (RFC 6531 §3.3). */
export function needsSmtpUtf8(address: string): boolean {
  return /[\u0080-\uffff]/.test(address);
}

/** `MAIL FROM:<addr> params...` */
export function mailCommand(mailFrom: string, params: readonly string[]): string {
  return [`MAIL FROM:<${mailFrom}>`, ...params].join(" ");
}

/** `RCPT TO:<addr>` */
export function rcptCommand(recipient: string): string {
  return `RCPT TO:<${recipient}>`;
}
