/**
 * Turning one message from the bounce mailbox into {@link BounceOutcome} values.
 *
 * MIME is parsed by mailparser. Its `simpleParser` is asked to keep the report parts whole
 * (`keepDeliveryStatus`, `ignoreEmbedded`): by default it folds `message/delivery-status` into
 * the text and descends into `message/rfc822`, losing the returned message's headers, which are
 * exactly what ties a bounce to its delivery. mailparser (with its charset tables) is loaded on the
 * first bounce, not when the relay starts: a relay without a bounce mailbox never pays the ~8 MB
 * of heap and ~30 MB of resident memory it costs.
 *
 * In order: a `message/delivery-status` part makes it a DSN (RFC 3464; the `report-type`
 * parameter is not trusted, some MTAs get it wrong); a `message/feedback-report` part an ARF
 * complaint (RFC 5965); otherwise the text is tried as a non-standard bounce; anything else is
 * unrecognised. Parsing never throws for bad input: broken MIME is an unrecognised outcome.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { parseFeedbackReport } from "./arf.ts";
import { classify } from "./classify.ts";
import { cleanDiagnostic, type DeliveryStatus, parseDeliveryStatus } from "./dsn.ts";
import { type Fields, parseFields, parseHeaderBlock } from "./fields.ts";
import { type MatchEvidence, matchKeys, messageId } from "./match.ts";
import type { Bounce, BounceOutcome, BounceReport, MatchKeys } from "./outcome.ts";
import { parseTextBounce } from "./text_bounce.ts";
import type { VerpKey } from "./verp.ts";

export interface ParseBounceOptions {
  /** Our VERP key; without it, matching relies on Message-IDs only. */
  readonly verp?: VerpKey;
}

/** The parts of mailparser's result this module reads (the package ships no types). */
interface ParsedMail {
  readonly headerLines?: readonly { readonly key: string; readonly line: string }[];
  readonly text?: string;
  readonly attachments: readonly { readonly contentType: string; readonly content: Uint8Array }[];
}

const DSN_TYPES = ["message/delivery-status", "message/global-delivery-status"];
const ARF_TYPES = ["message/feedback-report"];
const MESSAGE_TYPES = ["message/rfc822", "message/global"];
const HEADER_TYPES = ["text/rfc822-headers", "message/global-headers"];

let mailparser: Promise<typeof import("mailparser")> | undefined;

/** Parses one raw message (as RETR returned it). */
export async function parseBounce(
  raw: Uint8Array,
  options: ParseBounceOptions = {},
): Promise<BounceReport> {
  const { simpleParser } = await (mailparser ??= import("mailparser"));
  let mail: ParsedMail;
  try {
    mail = await simpleParser(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), {
      keepDeliveryStatus: true,
      ignoreEmbedded: true,
      skipTextToHtml: true,
      skipTextLinks: true,
      skipImageLinks: true,
    }) as ParsedMail;
  } catch (err) {
    const reason = `cannot parse the message: ${err instanceof Error ? err.message : String(err)}`;
    return { outcomes: [{ kind: "unrecognised", reason }], subject: "", from: "" };
  }
  const headers = parseFields(
    (mail.headerLines ?? []).map((h) => h.line.replace(/\r?\n/g, "\n")).join("\n"),
  );
  const parts = (types: string[]) =>
    mail.attachments.filter((a) => types.includes(a.contentType.toLowerCase()))
      .map((a) => new TextDecoder().decode(a.content));
  const originals = [
    ...parts(MESSAGE_TYPES).map(parseHeaderBlock),
    ...parts(HEADER_TYPES).map(parseFields),
  ];
  const context = {
    headers,
    verp: options.verp,
    subject: headers.get("subject") ?? "",
    from: headers.get("from") ?? "",
  };
  const report = (outcomes: BounceOutcome[]): BounceReport => ({
    outcomes: outcomes as [BounceOutcome, ...BounceOutcome[]],
    subject: context.subject,
    from: context.from,
    ...(messageId(headers.get("message-id"))
      ? { messageId: messageId(headers.get("message-id")) }
      : {}),
  });

  const dsnPart = parts(DSN_TYPES)[0];
  if (dsnPart !== undefined) {
    const dsn = parseDeliveryStatus(dsnPart);
    const keys = keysFor(context, originals, dsn.senders);
    const outcomes = dsnOutcomes(dsn, keys);
    if (outcomes.length > 0) return report(outcomes);
    if (dsn.recipients.length > 0) {
      const actions = [...new Set(dsn.recipients.map((r) => r.action || "none"))].join(", ");
      return report([{
        kind: "unrecognised",
        reason: `DSN reports no failure (${actions})`,
        ...keys,
      }]);
    }
    // A delivery-status part without recipient groups: let the text have a go below.
  }

  const arfPart = parts(ARF_TYPES)[0];
  if (arfPart !== undefined) {
    const arf = parseFeedbackReport(arfPart);
    const keys = keysFor(context, originals, arf?.originalMailFrom ? [arf.originalMailFrom] : []);
    if (!arf) {
      return report([{
        kind: "unrecognised",
        reason: "feedback report without Feedback-Type",
        ...keys,
      }]);
    }
    return report([{
      kind: "complaint",
      feedbackType: arf.feedbackType,
      ...defined({
        recipient: arf.originalRcptTo,
        originalEnvelopeTo: arf.originalRcptTo,
        userAgent: arf.userAgent,
        arrivalDate: arf.arrivalDate,
        sourceIp: arf.sourceIp,
      }),
      ...keys,
    }]);
  }

  const text = parseTextBounce({
    text: mail.text ?? "",
    subject: context.subject,
    from: context.from,
    returnPath: headers.get("return-path"),
    failedRecipients: headers.all("x-failed-recipients"),
  });
  const textOriginals = text.kind === "parsed" && text.original !== undefined
    ? [parseHeaderBlock(text.original)]
    : [];
  const keys = keysFor(context, [...originals, ...textOriginals], []);
  if (text.kind === "none") {
    return report([{
      kind: "unrecognised",
      reason: unrecognisedReason(headers, text.reason),
      ...keys,
    }]);
  }
  return report(text.failures.map((f): Bounce => {
    const c = classify({ diagnostic: f.diagnostic, action: text.action });
    return {
      kind: "bounce",
      ...defined({ recipient: f.recipient }),
      status: c.status,
      diagnostic: cleanDiagnostic(f.diagnostic),
      action: text.action,
      class: c.class,
      hard: c.hard,
      ...keys,
    };
  }));
}

function dsnOutcomes(dsn: DeliveryStatus, keys: MatchKeys): Bounce[] {
  return dsn.recipients.flatMap((r): Bounce[] => {
    if (r.action !== "failed" && r.action !== "delayed") return [];
    const diagnostic = r.diagnostic ?? "";
    const c = classify({ status: r.status, diagnostic, action: r.action });
    return [{
      kind: "bounce",
      ...defined({
        recipient: r.finalRecipient ?? r.originalRecipient,
        originalEnvelopeTo: r.originalRecipient,
        reportingMta: dsn.reportingMta,
      }),
      status: c.status,
      diagnostic,
      action: r.action,
      class: c.class,
      hard: c.hard,
      ...keys,
    }];
  });
}

function keysFor(
  context: { headers: Fields; verp?: VerpKey },
  originals: Fields[],
  reportSenders: readonly string[],
): MatchKeys {
  const { headers } = context;
  const evidence: MatchEvidence = {
    addressValues: [
      ...headers.all("delivered-to"),
      ...headers.all("x-original-to"),
      ...headers.all("to"),
      ...headers.all("envelope-to"),
      ...headers.all("x-envelope-to"),
      ...reportSenders,
      ...originals.flatMap((f) => f.all("return-path")),
    ],
    originals,
    inReplyTo: headers.get("in-reply-to"),
    references: headers.get("references"),
  };
  return matchKeys(evidence, context.verp);
}

function unrecognisedReason(headers: Fields, fallback: string): string {
  const auto = headers.get("auto-submitted")?.toLowerCase();
  const subject = headers.get("subject") ?? "";
  if (
    auto?.startsWith("auto-replied") ||
    /out of (?:the )?office|automatic reply|auto.?reply|vacation|abwesenheit/i.test(subject)
  ) {
    return `auto-reply: ${subject || "(no subject)"}`;
  }
  return fallback;
}

/** Drops undefined values, so optional fields are absent rather than present-but-undefined. */
function defined<T extends Record<string, string | undefined>>(
  record: T,
): { [K in keyof T]?: string } {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: string;
  };
}
