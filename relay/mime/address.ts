/**
 * Mail address parsing and validation for ingestion.
 *
 * The header form (`addr@domain` or `Display Name <addr@domain>`, RFC 5322 §3.4) is split by
 * nodemailer's addressparser; the address itself is then checked against the stricter SMTP
 * envelope grammar of RFC 5321 §4.1.2 (dot-atom or quoted-string local part, a domain of
 * LDH labels), because that is what must survive `MAIL FROM` / `RCPT TO`. Internationalised
 * domains are converted to A-labels (RFC 5890) with WHATWG's `domainToASCII`; a UTF-8 local part
 * is legal only with SMTPUTF8 (RFC 6531), so it is accepted and flagged.
 *
 * @module
 */
import addressparser from "nodemailer/lib/addressparser/index.js";
import { domainToASCII } from "node:url";

/** A validated mailbox. */
export interface Mailbox {
  /** Display name, if any (header use only). */
  readonly name: string;
  /** `local@domain` with the domain in A-label form, lower-cased. */
  readonly address: string;
  readonly local: string;
  /** A-label (punycode) domain, lower-cased. */
  readonly domain: string;
  /** The local part has non-ASCII characters: the transaction needs SMTPUTF8 (RFC 6531). */
  readonly smtputf8: boolean;
}

export type AddressResult =
  | { readonly ok: true; readonly mailbox: Mailbox }
  | { readonly ok: false; readonly reason: string };

// RFC 5321 §4.5.3.1: local part 64 octets, domain 255 octets, path 256 (254 for the address).
const MAX_LOCAL = 64;
const MAX_DOMAIN = 255;
const MAX_ADDRESS = 254;
const MAX_LABEL = 63;

// RFC 5322 atext, plus any non-ASCII character for RFC 6531's UTF8-non-ascii.
const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uFFFF]+$/;
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Parses one address in header form and validates it for use on the SMTP envelope. */
export function parseMailbox(input: string): AddressResult {
  if (typeof input !== "string" || input.trim() === "") {
    return fail("address is empty");
  }
  if (CONTROL.test(input)) {
    return fail(`address ${quote(input)} contains a control character (CR/LF injection?)`);
  }
  const parsed = addressparser(input, { flatten: true }) as { name: string; address: string }[];
  if (parsed.length !== 1) {
    return fail(`${quote(input)} must hold exactly one address: found ${parsed.length}`);
  }
  const [{ name, address }] = parsed as [{ name: string; address: string }];
  return validateAddress(address, name, input);
}

/** Validates a bare `local@domain` address (no display name). */
export function validateAddress(address: string, name = "", input = address): AddressResult {
  if (!address) return fail(`${quote(input)} has no address`);
  if (CONTROL.test(address)) {
    return fail(`address ${quote(input)} contains a control character (CR/LF injection?)`);
  }
  const at = address.lastIndexOf("@");
  if (at <= 0 || at === address.length - 1) {
    return fail(`address ${quote(address)} must have the form local@domain`);
  }
  const local = address.slice(0, at);
  const localCheck = checkLocal(local);
  if (localCheck) return fail(`address ${quote(address)}: ${localCheck}`);
  const domain = toALabel(address.slice(at + 1));
  if (!domain.ok) return fail(`address ${quote(address)}: ${domain.reason}`);
  const full = `${local}@${domain.value}`;
  if (utf8Length(full) > MAX_ADDRESS) {
    return fail(`address ${quote(address)} is longer than ${MAX_ADDRESS} octets`);
  }
  return {
    ok: true,
    mailbox: {
      name,
      address: full,
      local,
      domain: domain.value,
      // deno-lint-ignore no-control-regex -- an ASCII range, not control characters
      smtputf8: /[^\x00-\x7f]/.test(local),
    },
  };
}

function checkLocal(local: string): string | undefined {
  if (utf8Length(local) > MAX_LOCAL) return `local part is longer than ${MAX_LOCAL} octets`;
  if (local.startsWith('"')) {
    // RFC 5321 quoted-string: printable ASCII (and UTF-8), with \ escaping " and \.
    if (!/^"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\uFFFF]|\\[\x20-\x7e])*"$/.test(local)) {
      return "quoted local part is malformed";
    }
    return undefined;
  }
  const atoms = local.split(".");
  if (atoms.some((a) => a === "")) {
    return "local part has an empty dot-atom (leading, trailing or double dot)";
  }
  if (!atoms.every((a) => ATEXT.test(a))) return "local part has a character not allowed unquoted";
  return undefined;
}

/** Converts a domain (U-labels allowed) to lower-case A-labels and checks RFC 1035/5321 limits. */
export function toALabel(raw: string): { ok: true; value: string } | { ok: false; reason: string } {
  if (raw.startsWith("[")) {
    return { ok: false, reason: "address literals are not accepted as destinations" };
  }
  const trimmed = raw.endsWith(".") ? raw.slice(0, -1) : raw;
  if (trimmed.length > MAX_DOMAIN) {
    return { ok: false, reason: `domain is longer than ${MAX_DOMAIN} octets` };
  }
  // deno-lint-ignore no-control-regex -- an ASCII range, not control characters
  const ascii = /^[\x00-\x7f]*$/.test(trimmed) ? trimmed.toLowerCase() : domainToASCII(trimmed);
  if (!ascii) return { ok: false, reason: `domain ${quote(raw)} is not a valid IDN` };
  if (ascii.length > MAX_DOMAIN) {
    return { ok: false, reason: `domain is longer than ${MAX_DOMAIN} octets` };
  }
  const labels = ascii.split(".");
  if (labels.length < 2) return { ok: false, reason: `domain ${quote(raw)} has no dot` };
  for (const label of labels) {
    if (label.length === 0) return { ok: false, reason: `domain ${quote(raw)} has an empty label` };
    if (label.length > MAX_LABEL) {
      return { ok: false, reason: `domain label is longer than ${MAX_LABEL} octets` };
    }
    if (!LDH_LABEL.test(label)) {
      return { ok: false, reason: `domain ${quote(raw)} has an invalid label ${quote(label)}` };
    }
  }
  return { ok: true, value: ascii };
}

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

function quote(s: string): string {
  const shown = s.length > 80 ? `${s.slice(0, 77)}...` : s;
  return JSON.stringify(shown);
}

function fail(reason: string): AddressResult {
  return { ok: false, reason };
}
