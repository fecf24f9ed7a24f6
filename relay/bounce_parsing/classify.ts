/**
 * Classifying a failure into a {@link BounceClass}, and hard or soft.
 *
 * The enhanced status code decides first (RFC 3463 §3: subject 1 is addressing, 2 the mailbox,
 * 3 the mail system, 4 network and routing, 7 security and policy); codes that say nothing
 * specific (`5.0.0`, `5.5.x`...) leave it to the diagnostic text. A full mailbox is soft even
 * when reported with 5.x.x: it empties, and most providers retry-then-bounce it anyway.
 *
 * @module
 */
import type { BounceClass } from "./outcome.ts";
import { basicClass, enhancedCodes, parseStatusField } from "./status_code.ts";

export interface Classification {
  readonly class: BounceClass;
  /** The best status code known: the given one, made specific from the text when it was x.0.0. */
  readonly status: string;
  readonly hard: boolean;
}

export interface ClassifyInput {
  /** The reported status (a DSN's Status field), if any. */
  readonly status?: string;
  readonly diagnostic: string;
  readonly action: "failed" | "delayed";
}

/** Classifies one recipient's failure. */
export function classify(input: ClassifyInput): Classification {
  const reported = parseStatusField(input.status);
  const inText = enhancedCodes(input.diagnostic);
  const status = bestStatus(reported, inText, input);
  const text = input.diagnostic.toLowerCase();
  const byStatus = [reported, ...inText]
    .flatMap((c) => (c === undefined ? [] : [classOfStatus(c)]))
    .find((c) => c !== undefined);
  let cls: BounceClass = byStatus ?? classOfText(text) ?? "other";
  // RFC 7505 gives x.1.10 to null MX; Microsoft uses it for "recipient not found" far more often.
  if (cls === "invalid_recipient" && /\b5\.1\.10\b/.test(status) && /null mx/.test(text)) {
    cls = "dns";
  }
  const hard = input.action === "failed" && status.startsWith("5") && cls !== "mailbox_full";
  return { class: cls, status, hard };
}

function bestStatus(reported: string | undefined, inText: string[], input: ClassifyInput): string {
  const generic = (c: string) => /^\d\.0\.0$/.test(c);
  if (reported && !generic(reported)) return reported;
  const specific = inText.find((c) => !generic(c) && (!reported || c[0] === reported[0]));
  if (specific) return specific;
  if (reported) return reported;
  if (inText[0]) return inText[0];
  const basic = basicClass(input.diagnostic);
  if (basic) return `${basic}.0.0`;
  return input.action === "delayed" ? "4.0.0" : "5.0.0";
}

/** The class an enhanced status code implies, or `undefined` when it is not specific. */
export function classOfStatus(code: string): BounceClass | undefined {
  const [, subject, detail] = code.split(".").map(Number);
  switch (subject) {
    case 1:
      if (detail === 2) return "dns"; // bad destination system address
      if (detail === 7 || detail === 8) return undefined; // our sender address: not the recipient
      return "invalid_recipient";
    case 2:
      if (detail === 1) return "invalid_recipient"; // mailbox disabled
      if (detail === 2) return "mailbox_full";
      if (detail === 3) return "message_too_large"; // over the per-mailbox limit
      return undefined;
    case 3:
      return detail === 4 ? "message_too_large" : undefined;
    case 4:
      return detail === 3 || detail === 4 ? "dns" : undefined; // directory failure, no route
    case 7:
      return "spam_or_policy";
    default:
      return undefined;
  }
}

// Checked in this order: "mailbox size limit" is a full mailbox, not a large message.
const TEXT_PATTERNS: readonly [BounceClass, RegExp][] = [
  [
    "mailbox_full",
    /mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the )?storage|insufficient (?:system )?storage|mailbox size limit|out of storage|full mailbox|storage (?:space|allocation) exceeded/,
  ],
  [
    "message_too_large",
    /message (?:is )?too (?:large|big)|message size exceeds|exceeds (?:the )?(?:maximum )?(?:message )?size|size limit|too large for/,
  ],
  [
    "invalid_recipient",
    /user unknown|unknown user|no such (?:user|mailbox|recipient)|does ?n[o']t exist|recipient not found|recipientnotfound|recipnotfound|address rejected|invalid (?:recipient|mailbox|address)|mailbox (?:unavailable|not found)|no mailbox|unknown recipient|user not found|account (?:has been )?disabled|account is disabled|not a valid (?:recipient|mailbox)|address (?:couldn't|could not) be found|no longer (?:active|available)/,
  ],
  [
    "dns",
    /unrout(?:e)?able|host not found|domain not found|no mx|name or service not known|nxdomain|no such domain|host unknown|could not be resolved|null mx|domain (?:name )?(?:does not|doesn't) exist|\bdns\b/,
  ],
  [
    "spam_or_policy",
    /spam|block(?:ed|list)|blacklist|denylist|policy|reputation|dmarc|\bspf\b|dkim|not authori[sz]ed|access denied|junk|unsolicited|content rejected|relay access denied|\brbl\b|listed (?:at|by|on|in)/,
  ],
];

/** The class the diagnostic's wording suggests, if any. */
export function classOfText(lowerText: string): BounceClass | undefined {
  return TEXT_PATTERNS.find(([, re]) => re.test(lowerText))?.[0];
}
