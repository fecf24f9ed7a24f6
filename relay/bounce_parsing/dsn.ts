/**
 * The `message/delivery-status` body of a DSN (RFC 3464 §2): one group of per-message fields,
 * then one group per recipient. Only the fields that tie a failure to a delivery and explain it
 * are kept.
 *
 * @module
 */
import { type Fields, parseFieldGroups } from "./fields.ts";

export interface DsnRecipient {
  /** RFC 3464 §2.3.2 Final-Recipient, the address type (`rfc822;`) removed. */
  readonly finalRecipient?: string;
  /** §2.3.1 Original-Recipient: the address as the sender gave it in RCPT TO. */
  readonly originalRecipient?: string;
  /** §2.3.3 Action, lower-cased: `failed`, `delayed`, `delivered`, `relayed`, `expanded`. */
  readonly action: string;
  /** §2.3.4 Status, as written. */
  readonly status?: string;
  /** §2.3.6 Diagnostic-Code, the type (`smtp;`) removed and white space collapsed. */
  readonly diagnostic?: string;
  readonly remoteMta?: string;
}

export interface DeliveryStatus {
  readonly reportingMta?: string;
  /** §2.2.1 Original-Envelope-Id (ENVID), when the sender set one. */
  readonly envelopeId?: string;
  /** Envelope senders named in per-message fields (Postfix's `X-Postfix-Sender`). */
  readonly senders: readonly string[];
  readonly recipients: readonly DsnRecipient[];
}

/** Parses a delivery-status body. Groups without Final-Recipient or Action are per-message. */
export function parseDeliveryStatus(text: string): DeliveryStatus {
  const groups = parseFieldGroups(text);
  const isRecipient = (f: Fields) =>
    f.get("final-recipient") !== undefined || f.get("action") !== undefined;
  const perMessage = groups.filter((g) => !isRecipient(g));
  const pick = (name: string) => perMessage.map((g) => g.get(name)).find((v) => v !== undefined);
  const recipients = groups.filter(isRecipient).map((g): DsnRecipient => ({
    finalRecipient: address(g.get("final-recipient")),
    originalRecipient: address(g.get("original-recipient")),
    action: (g.get("action") ?? "").replace(/\(.*\)/, "").trim().toLowerCase(),
    status: g.get("status"),
    diagnostic: g.get("diagnostic-code") === undefined
      ? undefined
      : cleanDiagnostic(typed(g.get("diagnostic-code")!)),
    remoteMta: typedOrUndefined(g.get("remote-mta")),
  }));
  return {
    reportingMta: typedOrUndefined(pick("reporting-mta")),
    envelopeId: pick("original-envelope-id"),
    senders: perMessage.flatMap((g) => g.all("x-postfix-sender").map(typed)),
    recipients,
  };
}

/**
 * Collapses white space and drops the repeated `550-5.1.1 ` prefixes of a multi-line SMTP reply
 * (RFC 5321 §4.2.1), which unfolding turns into noise in the middle of the text.
 */
export function cleanDiagnostic(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  const first = /^(\d{3})[ -](\d\.\d{1,3}\.\d{1,3}) /.exec(flat);
  if (!first) return flat.replace(/ (\d{3})-(?=\S)/g, " ");
  const repeat = new RegExp(` ${first[1]}[ -]${first[2]!.replace(/\./g, "\\.")} `, "g");
  return `${first[1]} ${first[2]} ${flat.slice(first[0].length).replace(repeat, " ")}`;
}

/** Removes an RFC 3464 type prefix (`rfc822;`, `smtp;`, `dns;`). */
function typed(value: string): string {
  const semi = value.indexOf(";");
  return (semi >= 0 && /^[\w-]+$/.test(value.slice(0, semi).trim()) ? value.slice(semi + 1) : value)
    .trim();
}

function typedOrUndefined(value: string | undefined): string | undefined {
  return value === undefined ? undefined : typed(value);
}

function address(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const bare = typed(value).replace(/^<|>$/g, "").trim();
  return bare === "" ? undefined : bare;
}
