/**
 * Mail addresses, parsed strictly: the one grammar Ferry uses wherever an address enters it
 * (outbox ingestion, the admin API, the CLI, suppressions, configuration).
 *
 * An element is exactly one RFC 5322 `mailbox` (§3.4): an `addr-spec` (`local@domain`) or a
 * `name-addr` (`Display Name <local@domain>`, the display name a phrase of atoms and quoted
 * strings; `.` is allowed in it as RFC 5322's obs-phrase does, so `John Q. Public <j@x>` works).
 * The address itself must satisfy the SMTP envelope grammar of RFC 5321 §4.1.2 (dot-string or
 * quoted-string local part, a domain of LDH labels), because that is what must survive
 * `MAIL FROM` / `RCPT TO`. Internationalised domains become A-labels (RFC 5890); a UTF-8 local
 * part is legal only with SMTPUTF8 (RFC 6531), so it is accepted and flagged.
 *
 * Nothing is guessed: text that is not one mailbox (`a b@x`, two addresses, an unquoted comma,
 * comments, text after `>`, unbalanced quotes or brackets) is refused with a reason that quotes
 * the element. So no input can yield a recipient whose text it does not contain.
 *
 * @module
 */
import { domainToASCII } from "node:url";

/** A validated mailbox. */
export interface Mailbox {
  /** Display name, if any (header use only), unquoted. */
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
const ATEXT_CHAR = /[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uFFFF]/;
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

type Token =
  | { readonly kind: "atom"; readonly text: string }
  | { readonly kind: "quoted"; readonly text: string; readonly raw: string }
  | { readonly kind: "space" }
  | { readonly kind: "<" | ">" };

/** Splits an element into atoms (dots included), quoted strings, white space, `<` and `>`. */
function tokenize(input: string): Token[] | string {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === " " || c === "\t") {
      while (input[i] === " " || input[i] === "\t") i++;
      tokens.push({ kind: "space" });
    } else if (c === "<" || c === ">") {
      tokens.push({ kind: c });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let text = "";
      while (j < input.length && input[j] !== '"') {
        if (input[j] === "\\") {
          if (j + 1 >= input.length) return "a quoted string ends in a backslash";
          text += input[j + 1];
          j += 2;
        } else text += input[j++];
      }
      if (j >= input.length) return "a quoted string is not closed";
      tokens.push({ kind: "quoted", text, raw: input.slice(i, j + 1) });
      i = j + 1;
    } else if (ATEXT_CHAR.test(c) || c === "." || c === "@") {
      let j = i;
      while (
        j < input.length && (ATEXT_CHAR.test(input[j]!) || input[j] === "." || input[j] === "@")
      ) j++;
      tokens.push({ kind: "atom", text: input.slice(i, j) });
      i = j;
    } else {
      return `${JSON.stringify(c)} is not allowed outside quotes` +
        (c === ","
          ? " (one address per element)"
          : c === "("
          ? " (comments are not accepted)"
          : "");
    }
  }
  return tokens;
}

/** The addr-spec text of tokens with no white space: `local@domain`, the local part maybe quoted. */
function addrSpec(tokens: readonly Token[]): { local: string; domain: string } | string {
  if (tokens.some((t) => t.kind === "space")) return "white space inside the address";
  if (tokens.some((t) => t.kind === "<" || t.kind === ">")) return "unbalanced angle brackets";
  const text = tokens.map((t) => (t.kind === "atom" ? t.text : t.kind === "quoted" ? t.raw : ""))
    .join("");
  if (text === "") return "the address is empty";
  const at = text.lastIndexOf("@");
  if (at <= 0 || at === text.length - 1) return "the address must have the form local@domain";
  return { local: text.slice(0, at), domain: text.slice(at + 1) };
}

/** Parses one element in header form (addr-spec or name-addr) for use on the SMTP envelope. */
export function parseMailbox(input: string): AddressResult {
  if (typeof input !== "string" || input.trim() === "") return fail("address is empty");
  if (CONTROL.test(input)) {
    return fail(`address ${quote(input)} contains a control character (CR/LF injection?)`);
  }
  const tokens = tokenize(input.trim());
  if (typeof tokens === "string") return fail(`cannot parse address ${quote(input)}: ${tokens}`);
  const open = tokens.findIndex((t) => t.kind === "<");
  if (open < 0) {
    const spec = addrSpec(tokens);
    if (typeof spec === "string") {
      return fail(
        `cannot parse address ${quote(input)}: ${spec}` +
          (spec.startsWith("white space") ? " (a display name needs <address>)" : ""),
      );
    }
    return validateAddress(`${spec.local}@${spec.domain}`, "", input);
  }
  const close = tokens.findIndex((t) => t.kind === ">");
  if (close < open) return fail(`cannot parse address ${quote(input)}: unbalanced angle brackets`);
  const after = tokens.slice(close + 1);
  if (after.some((t) => t.kind !== "space")) {
    return fail(`cannot parse address ${quote(input)}: text after the closing ">"`);
  }
  const phrase = tokens.slice(0, open);
  for (const t of phrase) {
    if (t.kind === "atom" && t.text.includes("@")) {
      return fail(`cannot parse address ${quote(input)}: "@" in the display name (quote it)`);
    }
  }
  const spec = addrSpec(tokens.slice(open + 1, close));
  if (typeof spec === "string") return fail(`cannot parse address ${quote(input)}: ${spec}`);
  const name = phrase.filter((t) => t.kind !== "space")
    .map((t) => (t.kind === "atom" || t.kind === "quoted" ? t.text : "")).join(" ");
  const checked = validateAddress(`${spec.local}@${spec.domain}`, name, input);
  return checked.ok ? checked : fail(`${checked.reason} (in ${quote(input)})`);
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
